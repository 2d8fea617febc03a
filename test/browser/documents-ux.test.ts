/**
 * Issue 11.13 in Chromium: the document editor's dark theme keeps every piece of text at a contrast
 * of at least 4.5:1 (computed from the rendered styles: colours, backgrounds and opacity as
 * composited), two people whose names share an initial get different presence labels, a list marker
 * typed after the one the editor continued is not doubled, and create / rename / delete / name are
 * in-page dialogs, never the browser's prompt() or confirm().
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DESKTOP, launchBrowser, screenshot, startKeel, waitFor, WAIT_MS, type BrowserKeel } from './harness.ts';

let browser: Browser;
let k: BrowserKeel;
const contexts: BrowserContext[] = [];

before(async () => {
  k = await startKeel();
  browser = await launchBrowser();
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await k?.close();
});

const auth = () => ({ authorization: `Bearer ${k.keel.ctx.auth.token}` });
async function createDoc(title: string): Promise<string> {
  const res = await fetch(`${k.url}/api/docs`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: k.url }, body: JSON.stringify({ title }) });
  return ((await res.json()) as { id: string }).id;
}
async function docs(): Promise<{ id: string; title: string }[]> {
  return ((await (await fetch(`${k.url}/api/docs`, { headers: auth() })).json()) as { documents: { id: string; title: string }[] }).documents;
}
const docText = (page: Page) => page.evaluate(() => (window as unknown as { __keel: { doc(): { text?: string } } }).__keel.doc().text ?? '');

async function signedIn(name: string): Promise<{ page: Page; native: () => number }> {
  const context = await browser.newContext({ viewport: DESKTOP });
  contexts.push(context);
  await context.addInitScript((n) => localStorage.setItem('keel.name', n), name);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  let native = 0;
  page.on('dialog', (d) => {
    native++;
    void d.dismiss();
  });
  await page.goto(k.startUrl, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);
  return { page, native: () => native };
}

async function openDoc(page: Page, id: string): Promise<void> {
  await page.evaluate((i) => (location.hash = `#/docs/${i}`), id);
  await waitFor(async () => (await page.evaluate((i) => {
    const d = (window as unknown as { __keel: { doc(): { id?: string; connection?: string } } }).__keel.doc();
    return d.id === i && d.connection === 'live';
  }, id)), 'the editor to be live');
}

/** Every piece of text in the editor with its contrast against what is behind it, as composited on screen. */
function contrasts(page: Page) {
  return page.evaluate(() => {
    type C = { r: number; g: number; b: number; a: number };
    const parse = (s: string): C => {
      const m = /rgba?\(([^)]+)\)/.exec(s);
      if (!m) return { r: 0, g: 0, b: 0, a: 0 };
      const [r, g, b, a] = m[1]!.split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r: r!, g: g!, b: b!, a: a ?? 1 };
    };
    const over = (top: C, under: C): C => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1 });
    const lum = (c: C) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
    };
    const ratio = (a: C, b: C) => {
      const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
      return (x! + 0.05) / (y! + 0.05);
    };
    const out: { text: string; cls: string; color: string; ratio: number }[] = [];
    const editor = document.querySelector('.doc-editor .cm-editor')!;
    for (const el of editor.querySelectorAll<HTMLElement>('.cm-content *, .cm-gutters *, .cm-ySelectionInfo')) {
      // Visible characters only (a remote caret holds word joiners, which show nothing).
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent ?? '').join('').replace(/[\s\u200b-\u200d\u2060\ufeff]/g, '');
      if (!own) continue;
      const chain: HTMLElement[] = [];
      for (let e: HTMLElement | null = el; e; e = e.parentElement) chain.push(e);
      let bg: C = { r: 255, g: 255, b: 255, a: 1 };
      let opacity = 1;
      for (const e of chain.reverse()) {
        const cs = getComputedStyle(e);
        const c = parse(cs.backgroundColor);
        if (c.a > 0) bg = over(c, bg);
        opacity *= Number(cs.opacity);
      }
      const fg = parse(getComputedStyle(el).color);
      const shown = over({ ...fg, a: fg.a * opacity }, bg);
      out.push({ text: own.slice(0, 30), cls: el.className, color: getComputedStyle(el).color, ratio: Math.round(ratio(shown, bg) * 100) / 100 });
    }
    return out;
  });
}

const SAMPLE = '# Heading one\n## Heading two\nSome *emphasis*, **strong**, `code` and a [link](https://example.com).\n\n> a quote\n\n- item\n1. first\n\n---\n~~gone~~ <b>html</b>\n';

test('the editor’s dark theme: every piece of text at 4.5:1 or more (computed styles), named cursors included', async () => {
  const id = await createDoc('Contrast');
  const a = await signedIn('Ada');
  const b = await signedIn('Bob');
  await openDoc(a.page, id);
  await openDoc(b.page, id);
  await a.page.locator('.doc-editor .cm-content').click();
  await a.page.keyboard.insertText(SAMPLE);
  await waitFor(async () => (await docText(b.page)).includes('html'), 'the sample on both pages');
  // Bob's cursor label shows on Ada's page.
  await b.page.locator('.doc-editor .cm-content').click();
  await waitFor(async () => (await a.page.locator('.cm-ySelectionInfo').count()) > 0, 'Bob’s named cursor');
  const all = await contrasts(a.page);
  assert.ok(all.length >= 15, `text pieces found: ${all.length}`);
  assert.ok(all.some((c) => c.text.includes('Headingone')) && all.some((c) => c.cls.includes('cm-gutterElement')) && all.some((c) => c.cls.includes('cm-ySelectionInfo')), 'headings, line numbers and cursor names are measured');
  const low = all.filter((c) => c.ratio < 4.5);
  assert.deepEqual(low, [], `below 4.5:1: ${JSON.stringify(low)}`);
  // Locked by the other: the dimmed text still reads.
  await b.page.locator('[data-testid=doc-lock]').click();
  await waitFor(async () => (await a.page.locator('.docs-page').getAttribute('data-lock')) === 'other', 'the lock on Ada’s page');
  const locked = (await contrasts(a.page)).filter((c) => c.ratio < 4.5);
  assert.deepEqual(locked, [], `below 4.5:1 while locked: ${JSON.stringify(locked)}`);
  await screenshot(a.page, 'documents-dark-theme');
  await b.page.locator('[data-testid=doc-lock]').click();
});

test('two people with the same initial get different presence labels', async () => {
  const id = await createDoc('Initials');
  const ada = await signedIn('Ada');
  const alan = await signedIn('Alan');
  await openDoc(ada.page, id);
  await openDoc(alan.page, id);
  for (const p of [ada.page, alan.page]) {
    await waitFor(async () => (await p.locator('[data-testid=doc-peers] .peer').count()) === 2, 'two people here');
    const labels = await p.locator('[data-testid=doc-peers] .peer').evaluateAll((els) => els.map((e) => `${(e as HTMLElement).dataset.name}=${e.textContent}`).sort());
    assert.deepEqual(labels, ['Ada=Ad', 'Alan=Al']);
  }
  // With nobody else named A, one letter is enough.
  await alan.page.close();
  await waitFor(async () => (await ada.page.locator('[data-testid=doc-peers] .peer').allTextContents()).join() === 'A', 'Ada alone is "A"', 40_000);
});

test('Enter at the end of "- item" continues the list once; a marker typed over it is not doubled', async () => {
  const id = await createDoc('Lists');
  const { page } = await signedIn('Lin');
  await openDoc(page, id);
  await page.locator('.doc-editor .cm-content').click();
  await page.keyboard.type('- item');
  await page.keyboard.press('Enter');
  assert.equal(await docText(page), '- item\n- ', 'one marker after Enter');
  // What a writer used to plain editors types next: the marker again.
  await page.keyboard.type('- next\n1. one\n2. two\n- [ ] task\n- [ ] again');
  await waitFor(async () => (await docText(page)).endsWith('again'), 'the typing');
  assert.equal(await docText(page), '- item\n- next\n1. one\n2. two\n- [ ] task\n- [ ] again');
  // Away from a continued item, what is typed stays as typed.
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
  await page.keyboard.type('text\n- - nested on purpose');
  await waitFor(async () => (await docText(page)).endsWith('purpose'), 'the typing');
  assert.match(await docText(page), /\ntext\n- - nested on purpose$/);
});

test('New, Rename, Delete and "your name" are in-page dialogs; no prompt() or confirm()', async () => {
  const { page, native } = await signedIn('Dee');
  await page.evaluate(() => (location.hash = '#/docs'));
  await page.locator('[data-testid=doc-new]').click();
  const create = page.locator('dialog[data-testid=new-doc-dialog]');
  await create.waitFor({ state: 'visible' });
  await page.locator('[data-testid=dialog-input]').fill('Plan B');
  await page.keyboard.press('Enter');
  await waitFor(async () => (await docs()).some((d) => d.title === 'Plan B'), 'the new document');
  const id = (await docs()).find((d) => d.title === 'Plan B')!.id;
  await waitFor(async () => (await page.locator('[data-testid=doc-title]').textContent()) === 'Plan B', 'it opens');

  // An empty name keeps the dialog open and says why.
  await page.locator('[data-testid=doc-rename]').click();
  await page.locator('[data-testid=dialog-input]').fill('   ');
  await page.locator('[data-testid=dialog-confirm]').click();
  assert.equal(await page.locator('dialog[data-testid=rename-dialog]').isVisible(), true);
  assert.match((await page.locator('dialog[data-testid=rename-dialog] [role=alert]').textContent()) ?? '', /cannot be empty/);
  await page.locator('[data-testid=dialog-input]').fill('Plan C');
  await page.locator('[data-testid=dialog-confirm]').click();
  await waitFor(async () => (await docs()).find((d) => d.id === id)?.title === 'Plan C', 'the rename');

  await page.locator('[data-testid=doc-my-name]').click();
  await page.locator('dialog[data-testid=name-dialog]').waitFor({ state: 'visible' });
  await page.locator('[data-testid=dialog-input]').fill('Dee Dee');
  await page.keyboard.press('Enter');
  await waitFor(async () => (await page.locator('[data-testid=doc-my-name]').textContent()) === 'You: Dee Dee', 'the new name');

  await page.locator('[data-testid=doc-delete]').click();
  const del = page.locator('dialog[data-testid=delete-dialog]');
  await del.waitFor({ state: 'visible' });
  await del.locator('[data-testid=dialog-cancel]').click();
  assert.ok((await docs()).some((d) => d.id === id), 'Cancel deletes nothing');
  await page.locator('[data-testid=doc-delete]').click();
  await del.locator('[data-testid=dialog-confirm]').click();
  await waitFor(async () => !(await docs()).some((d) => d.id === id), 'the delete');
  assert.equal(native(), 0, 'no browser dialog');
});

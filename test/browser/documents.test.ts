/**
 * Documents UI: two Chromium pages (two contexts, each signed in with its own name) edit the same
 * document and see each other's text and cursor (a remote caret labelled with the other's name);
 * the lock makes the other page read-only, with who holds it, and releasing it makes it editable.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DESKTOP, launchBrowser, PHONE_CONTEXT, screenshot, startKeel, waitFor, WAIT_MS, type BrowserKeel } from './harness.ts';

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

function token(): string {
  return new URL(k.startUrl).searchParams.get('token')!;
}

async function createDoc(title: string): Promise<string> {
  const res = await fetch(`${k.url}/api/docs`, { method: 'POST', headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json', origin: k.url }, body: JSON.stringify({ title }) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

interface DocSnap {
  id?: string;
  text?: string;
  connection?: string;
  lock: { name: string } | null;
  holdsLock: boolean;
}
const doc = (page: Page) => page.evaluate(() => (window as unknown as { __keel: { doc(): DocSnap } }).__keel.doc());

/** A signed-in page named `name` with document `id` open and live. */
async function openDoc(name: string, id: string, options = { viewport: DESKTOP } as Parameters<Browser['newContext']>[0]): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext(options);
  contexts.push(context);
  await context.addInitScript((n) => localStorage.setItem('keel.name', n), name);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  await page.goto(k.startUrl, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);
  await page.evaluate((i) => (location.hash = `#/docs/${i}`), id);
  await waitFor(async () => (await doc(page)).connection === 'live', `${name}'s editor to be live`);
  return { page, errors };
}

const editorText = (page: Page) => page.locator('.doc-editor .cm-content').innerText();

test('two pages co-edit a document and see each other’s text and named cursor; the lock makes the other read-only', async () => {
  const id = await createDoc('Runbook');
  const a = await openDoc('Ada', id);
  const b = await openDoc('Bob', id);

  await a.page.locator('.doc-editor .cm-content').click();
  await a.page.keyboard.type('Hello from Ada');
  await waitFor(async () => (await editorText(b.page)).includes('Hello from Ada'), 'Ada’s text on Bob’s page');

  await b.page.locator('.doc-editor .cm-content').click();
  await b.page.keyboard.press('Control+End');
  await b.page.keyboard.type('\nBob was here');
  await waitFor(async () => (await editorText(a.page)).includes('Bob was here'), 'Bob’s text on Ada’s page');

  // Each sees the other's cursor, labelled with the other's name.
  await waitFor(async () => (await b.page.locator('.cm-ySelectionInfo', { hasText: 'Ada' }).count()) > 0, 'Ada’s named cursor on Bob’s page');
  await waitFor(async () => (await a.page.locator('.cm-ySelectionInfo', { hasText: 'Bob' }).count()) > 0, 'Bob’s named cursor on Ada’s page');
  await waitFor(async () => (await a.page.locator('[data-testid=doc-peers] .peer').count()) === 2, 'two people in Ada’s presence list');
  assert.equal((await doc(a.page)).text, (await doc(b.page)).text);
  await screenshot(a.page, 'documents-desktop');

  // Ada takes the lock: Bob's editor becomes read-only and says who holds it.
  await a.page.locator('[data-testid=doc-lock]').click();
  await waitFor(async () => (await doc(a.page)).holdsLock, 'Ada to hold the lock');
  await waitFor(async () => (await b.page.locator('.doc-editor .cm-content').getAttribute('contenteditable')) === 'false', 'Bob’s editor to be read-only');
  assert.match((await b.page.locator('[data-testid=doc-banner]').textContent())!, /locked by Ada until/i);
  assert.equal(await b.page.locator('[data-testid=doc-lock]').isDisabled(), true);
  const before = (await doc(b.page)).text;
  await b.page.locator('.doc-editor .cm-content').click();
  await b.page.keyboard.type('sneaky');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await doc(b.page)).text, before, 'a read-only editor takes no typing');
  assert.ok(!(await doc(a.page)).text!.includes('sneaky'));
  await a.page.locator('.doc-editor .cm-content').click();
  await a.page.keyboard.press('Control+End');
  await a.page.keyboard.type(' (locked edit)');
  await waitFor(async () => (await editorText(b.page)).includes('(locked edit)'), 'the holder’s edits to reach Bob');
  await screenshot(b.page, 'documents-locked');

  // Released: Bob can edit again.
  await a.page.locator('[data-testid=doc-lock]').click();
  await waitFor(async () => (await b.page.locator('.doc-editor .cm-content').getAttribute('contenteditable')) === 'true', 'Bob’s editor to be editable again');
  await b.page.locator('.doc-editor .cm-content').click();
  await b.page.keyboard.press('Control+End');
  await b.page.keyboard.type(' after-unlock');
  await waitFor(async () => (await editorText(a.page)).includes('after-unlock'), 'Bob’s edit after the unlock on Ada’s page');
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test('phone: the document list is a drawer and the editor fits 390 px', async () => {
  const id = await createDoc('Phone notes');
  const p = await openDoc('Cleo', id, PHONE_CONTEXT);
  await p.page.locator('.doc-editor .cm-content').click();
  await p.page.keyboard.type('# Plan\n\n- check the tests\nship it');
  await waitFor(async () => (await doc(p.page)).text?.includes('ship it'), 'the typed text');
  assert.equal(await p.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), true, 'no sideways scroll');
  await screenshot(p.page, 'documents-phone');
  await p.page.locator('[data-testid=doc-drawer]').click();
  await waitFor(async () => ((await p.page.locator('.doc-side').boundingBox())?.x ?? -1) >= 0, 'the drawer to open');
  assert.ok((await p.page.locator('.doc-item').count()) >= 2);
});

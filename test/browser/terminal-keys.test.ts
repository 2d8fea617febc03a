/**
 * Issue 11.10 and 11.11 in Chromium, against real shells: the clipboard keys as in VS Code's
 * terminal (Ctrl+C copies a selection and interrupts otherwise, Ctrl+Shift+C / Ctrl+Shift+V,
 * Ctrl+V with bracketed paste when the program asked for it), copy on select as a setting, the
 * key that leaves the terminal, a read-only viewer told "read-only" as it types, and the mouse
 * wheel scrolling 3 lines a notch (VS Code's figure).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, launchBrowser, newTerminal, openPage, screen, startKeel, typeInTerminal, waitFor, waitForLine, type BrowserKeel } from './harness.ts';

const clipboard = (page: Page) => page.evaluate(() => navigator.clipboard.readText());
const setClipboard = (page: Page, text: string) => page.evaluate((t) => navigator.clipboard.writeText(t), text);

/** Double-clicks the first rendered occurrence of `word` (xterm selects the word, as a user would). */
async function selectWord(page: Page, word: string): Promise<void> {
  const at = await waitFor(
    () =>
      page.evaluate((w) => {
        const view = [...document.querySelectorAll<HTMLElement>('.term-view')].find((v) => !v.hidden)!;
        const screenEl = view.querySelector<HTMLElement>('.xterm-screen')!;
        const rows = [...view.querySelectorAll<HTMLElement>('.xterm-rows > div')];
        const cols = Number(/(\d+)×/.exec(view.querySelector('.size')?.textContent ?? '')?.[1] ?? 80);
        const r = screenEl.getBoundingClientRect();
        const cw = r.width / cols;
        for (const row of rows) {
          const text = (row.textContent ?? '').replace(/\u00a0/g, ' ');
          const i = text.indexOf(w);
          if (i >= 0) {
            const rr = row.getBoundingClientRect();
            return { x: r.left + (i + w.length / 2) * cw, y: rr.top + rr.height / 2 };
          }
        }
        return undefined;
      }, word),
    `"${word}" rendered`,
  );
  await page.mouse.dblclick(at.x, at.y);
  await waitFor(() => page.evaluate(() => document.querySelector('.term-view:not([hidden]) .xterm-selection div') !== null), 'a selection drawn');
}

async function serverScreen(k: BrowserKeel, id: string): Promise<string> {
  return (await fetch(`${k.url}/api/terminals/${id}/screen`, { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } })).text();
}

describe('terminal keys in the browser', () => {
  let browser: Browser;
  let k: BrowserKeel;
  before(async () => {
    browser = await launchBrowser();
    k = await startKeel();
  });
  after(async () => {
    await browser?.close();
    await k?.close();
  });

  it('Ctrl+C copies a selection (the line typed so far survives) and interrupts without one; Ctrl+Shift+C copies', async () => {
    const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: k.url });
    try {
      await newTerminal(page);
      await typeInTerminal(page, 'echo copy-me-123\n');
      await waitForLine(page, 'copy-me-123');
      await setClipboard(page, 'nothing yet');
      // A half-typed command: an interrupt would throw it away.
      await page.keyboard.type('echo kept-line');
      await selectWord(page, 'copy-me-123');
      await page.keyboard.press('Control+c');
      await waitFor(async () => (await clipboard(page)) === 'copy-me-123', 'the selection on the clipboard');
      assert.equal(await page.evaluate(() => document.querySelector('.term-view:not([hidden]) .xterm-selection div') === null), true, 'the selection is cleared after the copy');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'kept-line');

      // No selection: Ctrl+C is the interrupt, as always.
      await page.keyboard.type('sleep 600\n');
      await new Promise((r) => setTimeout(r, 300));
      await page.keyboard.press('Control+c');
      await page.keyboard.type('echo after-interrupt\n');
      await waitForLine(page, 'after-interrupt');

      await selectWord(page, 'after-interrupt');
      await page.keyboard.press('Control+Shift+C');
      await waitFor(async () => (await clipboard(page)) === 'after-interrupt', 'Ctrl+Shift+C to copy');
      // Ctrl+Shift+C without a selection sends nothing (xterm.js alone would send ^C).
      await page.keyboard.type('echo still-here');
      await page.keyboard.press('Control+Shift+C');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'still-here');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('Ctrl+V and Ctrl+Shift+V paste; bracketed when the program asked for it', async () => {
    const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: k.url });
    try {
      const id = await newTerminal(page);
      await setClipboard(page, 'echo pasted-$((2+3))');
      await typeInTerminal(page, '');
      await page.keyboard.press('Control+v');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'pasted-5');
      await setClipboard(page, 'echo shift-pasted-$((3+4))');
      await page.keyboard.press('Control+Shift+V');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'shift-pasted-7');

      // A program that asked for bracketed paste (DECSET 2004) gets the paste between ESC[200~ and ESC[201~.
      await page.keyboard.type("printf '\\033[?2004h'; cat -v\n");
      await new Promise((r) => setTimeout(r, 300));
      await setClipboard(page, 'two\nlines');
      await page.keyboard.press('Control+v');
      await page.keyboard.press('Enter');
      await waitFor(async () => (await serverScreen(k, id)).includes('^[[200~two'), 'the bracketed paste start as cat -v shows it');
      assert.match(await serverScreen(k, id), /lines\^\[\[201~/);
      await page.keyboard.press('Control+c');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('copy on select (a setting in the Keys dialog) copies without a key', async () => {
    const { page, context } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: k.url });
    try {
      await newTerminal(page);
      await typeInTerminal(page, 'echo auto-copied-word\n');
      await waitForLine(page, 'auto-copied-word');
      await setClipboard(page, 'before');
      // Off by default: selecting copies nothing.
      await selectWord(page, 'auto-copied-word');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await clipboard(page), 'before');

      await page.locator('[data-testid=terminal-help]').click();
      const dlg = page.locator('dialog[data-testid=terminal-help]');
      await dlg.waitFor({ state: 'visible' });
      assert.match((await dlg.textContent()) ?? '', /Ctrl\+Shift\+M/, 'the help names the key that leaves the terminal');
      await dlg.locator('[data-testid=copy-on-select]').check();
      await dlg.locator('[data-testid=dialog-close]').click();
      await selectWord(page, 'auto-copied-word');
      await waitFor(async () => (await clipboard(page)) === 'auto-copied-word', 'the selection copied on select');
      // The setting is remembered.
      await page.reload();
      await page.locator('[data-testid=terminal-help]').click();
      assert.equal(await page.locator('[data-testid=copy-on-select]').isChecked(), true);
      await page.keyboard.press('Escape');
      await page.locator('dialog').waitFor({ state: 'detached' });
    } finally {
      await context.close();
    }
  });

  it('Ctrl+Shift+M leaves the terminal for its tab, sending nothing; Tab then moves on', async () => {
    const { page, context } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    try {
      const id = await newTerminal(page);
      assert.match((await page.locator('.term-view:not([hidden]) .xterm-helper-textarea').getAttribute('aria-description')) ?? '', /Ctrl\+Shift\+M leaves the terminal/, 'announced with the terminal input');
      await typeInTerminal(page, 'echo not-run-yet');
      await page.keyboard.press('Control+Shift+M');
      assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.classList.contains('tab')), true, 'the tab has the focus');
      assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.id), id);
      await new Promise((r) => setTimeout(r, 300));
      // Ctrl+M is Enter to a terminal: the half-typed command must not have run.
      assert.equal((await serverScreen(k, id)).split('\n').some((l) => l.trim() === 'not-run-yet'), false);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => !!document.activeElement?.closest('.xterm')), false, 'Tab goes on through the page, not back into the shell');
    } finally {
      await context.close();
    }
  });

  it('a read-only viewer who types is told "read-only" at once', async () => {
    const owner = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    try {
      const id = await newTerminal(owner.page);
      const info = (await (await fetch(`${k.url}/api/terminals/${id}/shares`, { method: 'POST', headers: { authorization: `Bearer ${k.keel.ctx.auth.token}`, origin: k.url, 'content-type': 'application/json' }, body: '{}' })).json()) as { share: string };
      const viewer = await openPage(browser, `${k.url}/#/t/${id}?share=${encodeURIComponent(info.share)}`, { viewport: DESKTOP });
      try {
        await waitFor(async () => (await viewer.page.evaluate(() => (window as unknown as { __keel: { tabs(): { role?: string }[] } }).__keel.tabs()[0]?.role)) === 'read-only', 'the read-only role');
        const hint = viewer.page.locator('[data-testid=read-only-hint]');
        assert.equal(await hint.isVisible(), false);
        await viewer.page.locator('.term-view:not([hidden]) .term-box').click({ position: { x: 30, y: 30 } });
        await viewer.page.keyboard.press('x');
        // Shown by the page itself, in the same task as the key press: no waiting for the server.
        assert.equal(await hint.isVisible(), true, 'the notice shows as soon as the key is pressed');
        assert.match((await hint.textContent()) ?? '', /read-only/i);
        await waitFor(async () => !(await hint.isVisible()), 'the notice to go away', 10_000);
        // A paste is typing too.
        await viewer.page.keyboard.press('Control+v');
        assert.equal(await hint.isVisible(), true, 'a paste shows the notice too');
        assert.equal((await screen(owner.page)).includes('x'), false);
      } finally {
        await viewer.context.close();
      }
    } finally {
      await owner.context.close();
    }
  });

  it('the mouse wheel scrolls 3 lines a notch, Alt+wheel 5× that (VS Code’s terminal)', async () => {
    const { page, context } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    try {
      await newTerminal(page);
      await typeInTerminal(page, 'seq 1 400; echo END\n');
      await waitForLine(page, 'END');
      const y = () => page.evaluate(() => (window as unknown as { __keel: { scroll(): { viewportY: number; baseY: number } } }).__keel.scroll());
      await waitFor(async () => (await y()).viewportY === (await y()).baseY && (await y()).baseY > 100, 'the view at the bottom');
      const box = (await page.locator('.term-view:not([hidden]) .xterm-screen').boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const start = (await y()).viewportY;
      // Chromium reports one notch as wheelDelta 120 whatever deltaY says; xterm.js scrolls 50 px for it.
      await page.mouse.wheel(0, -100);
      await waitFor(async () => (await y()).viewportY !== start, 'the view to scroll');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(start - (await y()).viewportY, 3, 'one notch: 3 lines');
      await page.keyboard.down('Alt');
      const mid = (await y()).viewportY;
      await page.mouse.wheel(0, -100);
      await page.keyboard.up('Alt');
      await waitFor(async () => (await y()).viewportY !== mid, 'the fast scroll');
      await new Promise((r) => setTimeout(r, 200));
      const fast = mid - (await y()).viewportY;
      assert.ok(fast >= 15 && fast <= 16, `Alt: 5× (${fast} lines)`);
    } finally {
      await context.close();
    }
  });
});

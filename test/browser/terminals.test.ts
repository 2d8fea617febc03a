/**
 * Issue 3 in a real browser against real PTYs: tabs, typing, exact screen after reload and after a
 * dropped socket, rename and close, the phone key bar, read-only share viewers, the "Too many
 * connections" message, exits, and reopening the previous run's tabs. Screenshots of a desktop
 * (1280×800) and a phone-sized (390×844) page go to test-results/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  DESKTOP,
  PHONE_CONTEXT,
  hasHorizontalScroll,
  launchBrowser,
  newTerminal,
  openPage,
  renderedRows,
  screen,
  screenshot,
  startKeel,
  tabs,
  tmpDataDir,
  typeInTerminal,
  waitFor,
  waitForLine,
  waitForState,
} from './harness.ts';


/** The class of the rendered span showing `text`; the buffer has a line before the renderer's next frame paints it, so this waits for the span. */
function renderedClass(page: Page, text: string): Promise<string> {
  return waitFor(
    () => page.evaluate((t) => [...document.querySelectorAll('.term-view:not([hidden]) .xterm-rows span')].find((s) => s.textContent === t)?.className, text),
    `"${text}" rendered as a span`,
  );
}

async function serverScreen(k: { url: string; keel: { ctx: { auth: { token: string } } } }, id: string): Promise<string> {
  const r = await fetch(`${k.url}/api/terminals/${id}/screen`, { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } });
  return r.text();
}

describe('terminal tabs in the browser', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('creates a tab, shows typed output, and restores the exact screen after a reload (desktop screenshot)', async () => {
    const k = await startKeel();
    try {
      const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
      const id = await newTerminal(page);
      await typeInTerminal(page, 'echo hi\n');
      await waitForLine(page, 'hi');
      // What the user sees: xterm's rendered rows in the DOM, not only the buffer.
      await waitFor(async () => (await renderedRows(page)).some((r) => r.trim() === 'hi'), '"hi" in the rendered rows');
      await typeInTerminal(page, "printf '\\033[1;32mgreen\\033[0m \\033[44m blue \\033[0m done\\n'; ls --color=always /; echo LS-DONE\n");
      await waitForLine(page, 'green  blue  done');
      // The whole output and the next prompt, not only its first line: under load the rest can still
      // be arriving when the first line shows, and the reloaded screen would then have more.
      await waitForLine(page, 'LS-DONE');
      let beforeText = '';
      await waitFor(async () => {
        const a = await screen(page);
        await new Promise((r) => setTimeout(r, 300));
        beforeText = await screen(page);
        return a === beforeText && /[$#] $/.test(beforeText.trimEnd() + ' ');
      }, 'the screen to settle at the prompt');
      assert.match(await renderedClass(page, 'green'), /xterm-fg-(2|10)\b/, 'ANSI colours are rendered');
      await screenshot(page, 'terminal-desktop');

      await page.reload({ waitUntil: 'domcontentloaded' });
      await waitFor(async () => (await tabs(page)).length === 1, 'the tab to come back after reload');
      await waitForState(page, 'live');
      await waitForLine(page, 'hi');
      await waitFor(async () => (await screen(page)) === beforeText, 'the same screen text after reload');
      assert.match(await renderedClass(page, 'green'), /xterm-fg-(2|10)\b/, 'colours survive the reload (snapshot, not plain text)');
      assert.equal(page.url().endsWith(`#/terminals/${id}`), true, 'the active tab is in the address');
      assert.equal((await serverScreen(k, id)).includes('green  blue  done'), true);
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('reconnects after a dropped socket, restores the screen, and keeps working', async () => {
    const k = await startKeel();
    try {
      const { page, context } = await openPage(browser, k.startUrl);
      await newTerminal(page);
      await typeInTerminal(page, 'echo before-drop\n');
      await waitForLine(page, 'before-drop');
      const seen: string[] = [];
      await page.exposeFunction('__recordState', (s: string) => seen.push(s));
      await page.evaluate(() => {
        const el = document.querySelector('.term-view:not([hidden]) [data-testid="conn-state"]')!;
        new MutationObserver(() => (window as unknown as { __recordState(s: string): void }).__recordState(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
        (window as unknown as { __keel: { dropConnection(): void } }).__keel.dropConnection();
      });
      await waitFor(() => seen.includes('reconnecting'), 'the tab to show "reconnecting"');
      await waitForState(page, 'live');
      await waitForLine(page, 'before-drop');
      await typeInTerminal(page, 'echo after-drop\n');
      await waitForLine(page, 'after-drop');
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('renames a tab by double-click and closes it (the shell goes too)', async () => {
    const k = await startKeel();
    try {
      const { page, context, errors } = await openPage(browser, k.startUrl);
      const id = await newTerminal(page);
      await page.locator(`.tab[data-id="${id}"] .tab-label`).dblclick();
      const input = page.locator(`.tab[data-id="${id}"] input.tab-rename`);
      await input.fill('build box');
      await input.press('Enter');
      await waitFor(async () => (await page.locator(`.tab[data-id="${id}"] .tab-label`).textContent()) === 'build box', 'the new name on the tab');
      const list = async () => ((await (await fetch(`${k.url}/api/terminals`, { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } })).json()) as { terminals: { id: string; name: string }[] }).terminals;
      await waitFor(async () => (await list()).find((t) => t.id === id)?.name === 'build box', 'the server to have the new name');
      const second = await newTerminal(page);
      assert.equal((await tabs(page)).length, 2);
      await page.locator(`.tab[data-id="${second}"] .tab-close`).click();
      await waitFor(async () => (await tabs(page)).length === 1, 'the closed tab to disappear');
      await waitFor(async () => (await list()).length === 1, 'the server to close that terminal');
      assert.equal((await tabs(page))[0]!.active, true, 'the remaining tab is active');
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('on a phone: fits the width, no sideways scroll, key bar sends arrows and a sticky Ctrl (phone screenshot)', async () => {
    const k = await startKeel();
    try {
      const { page, context, errors } = await openPage(browser, k.startUrl, PHONE_CONTEXT);
      await newTerminal(page);
      const bar = page.locator('.keybar');
      assert.equal(await bar.isVisible(), true, 'the key bar shows on a phone');
      for (const key of ['Esc', 'Tab', 'Ctrl', '←', '↑', '↓', '→']) assert.equal(await bar.locator(`[data-key="${key}"]`).count(), 1, key);
      // The terminal fits the phone's width: about 45-55 columns at 390 px, not the desktop's 80+.
      const size = await waitFor(async () => {
        const s = await page.locator('.term-view:not([hidden]) .size').textContent();
        const m = /(\d+)×(\d+)/.exec(s ?? '');
        return m ? { cols: Number(m[1]), rows: Number(m[2]) } : undefined;
      }, 'the terminal size');
      assert.ok(size.cols >= 30 && size.cols <= 60, `cols ${size.cols} fit 390 px`);
      const box = await page.locator('.term-view:not([hidden]) .xterm-screen').boundingBox();
      assert.ok(box && box.x + box.width <= 390 + 1, 'the terminal is within the screen width');
      const barBox = await bar.boundingBox();
      assert.ok(barBox && barBox.y + barBox.height <= 844 + 1 && barBox.y > 600, 'the key bar sits at the bottom of the visible area');

      // Arrows: "echo ab", ← ←, type X → the line becomes "echo Xab".
      await typeInTerminal(page, 'echo ab');
      await bar.locator('[data-key="←"]').tap();
      await bar.locator('[data-key="←"]').tap();
      await page.keyboard.type('X');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'Xab');
      // Sticky Ctrl: Ctrl, then "c" interrupts a running sleep; the next command runs at once.
      await typeInTerminal(page, 'sleep 600\n');
      await bar.locator('[data-key="Ctrl"]').tap();
      assert.equal(await bar.locator('[data-key="Ctrl"]').getAttribute('aria-pressed'), 'true', 'Ctrl shows as armed');
      await page.keyboard.type('c');
      assert.equal(await bar.locator('[data-key="Ctrl"]').getAttribute('aria-pressed'), 'false', 'Ctrl releases after one key');
      await page.keyboard.type('echo interrupted\n');
      await waitForLine(page, 'interrupted');
      await typeInTerminal(page, 'ls --color=always /usr; echo listed\n');
      await waitForLine(page, 'listed');
      assert.equal(await hasHorizontalScroll(page), false, 'no horizontal scroll at 390 px');
      await screenshot(page, 'terminal-phone');
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('a share link opens a read-only viewer that watches live and cannot type', async () => {
    const k = await startKeel();
    try {
      const owner = await openPage(browser, k.startUrl);
      const id = await newTerminal(owner.page);
      const info = (await (await fetch(`${k.url}/api/terminals/${id}/shares`, { method: 'POST', headers: { authorization: `Bearer ${k.keel.ctx.auth.token}`, origin: k.url, 'content-type': 'application/json' }, body: '{}' })).json()) as { share: string };
      const link = `${k.url}/#/t/${id}?share=${encodeURIComponent(info.share)}`;

      // The viewer has no cookie: the server serves it the page shell (401), and the share link
      // in the fragment is all it can use.
      const viewerCtx = await browser.newContext({ viewport: DESKTOP });
      const page = await viewerCtx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(link);
      await waitFor(async () => (await page.evaluate(() => (window as unknown as { __keel?: unknown }).__keel !== undefined)), 'the viewer page');
      await waitForState(page, 'live').catch(async (err) => {
        throw new Error(`${err.message}; tabs: ${JSON.stringify(await tabs(page))}; banner: ${await page.locator('.banner').first().textContent()}; errors: ${errors.join(' | ')}`);
      });
      await waitFor(async () => (await tabs(page))[0]?.role === 'read-only', 'role read-only');
      assert.equal(await page.locator('.term-view:not([hidden]) .badge-ro').isVisible(), true, 'read-only badge');
      assert.equal(await page.locator('.keybar').isVisible(), false, 'no key bar for a read-only viewer');
      assert.equal(await page.locator('[data-testid="new-terminal"]').count(), 0, 'no tab management');

      await typeInTerminal(owner.page, 'echo from-owner\n');
      await waitForLine(page, 'from-owner');
      await typeInTerminal(page, 'echo from-viewer\n');
      await typeInTerminal(owner.page, 'echo marker-after\n');
      await waitForLine(owner.page, 'marker-after');
      await waitForLine(page, 'marker-after');
      assert.equal((await serverScreen(k, id)).includes('from-viewer'), false, "the viewer's typing never reached the shell");
      await screenshot(page, 'terminal-read-only');
      assert.deepEqual(errors, []);
      await viewerCtx.close();
      await owner.context.close();
    } finally {
      await k.close();
    }
  });

  it('says "Too many connections" when the viewer limit is reached, and connects once there is room', async () => {
    const k = await startKeel({ maxViewersPerSession: 1 });
    try {
      const a = await openPage(browser, k.startUrl);
      const id = await newTerminal(a.page);
      const b = await openPage(browser, k.startUrl);
      await waitFor(async () => (await tabs(b.page)).length === 1, 'the second page to list the tab');
      await waitForState(b.page, 'limited');
      const banner = b.page.locator(`.term-view[data-terminal="${id}"] .banner`);
      await waitFor(async () => /Too many connections/.test((await banner.textContent()) ?? ''), 'the limit message on the second page');
      assert.equal(await b.page.locator(`.term-view[data-terminal="${id}"] [data-testid="conn-state"]`).textContent(), 'too many connections');
      await screenshot(b.page, 'terminal-too-many');
      await a.context.close();
      await b.page.locator(`.term-view[data-terminal="${id}"] .banner button`, { hasText: 'Retry now' }).click();
      await waitForState(b.page, 'live', 30_000);
      await b.context.close();
    } finally {
      await k.close();
    }
  });

  it('shows the exit, and the tab can be closed', async () => {
    const k = await startKeel();
    try {
      const { page, context } = await openPage(browser, k.startUrl);
      const id = await newTerminal(page);
      await typeInTerminal(page, 'exit 3\n');
      await waitForState(page, 'exited');
      const banner = page.locator(`.term-view[data-terminal="${id}"] .banner`);
      await waitFor(async () => /exited with code 3/.test((await banner.textContent()) ?? ''), 'the exit code in the banner');
      await banner.locator('button', { hasText: 'Close tab' }).click();
      await waitFor(async () => (await tabs(page)).length === 0, 'the tab to close');
      assert.equal(await page.locator('.empty').isVisible(), true, 'the empty state offers a new terminal');
      await context.close();
    } finally {
      await k.close();
    }
  });

  it("offers to reopen the previous run's tabs after a restart", async () => {
    const dataDir = tmpDataDir();
    try {
      const k1 = await startKeel({ dataDir });
      const a = await openPage(browser, k1.startUrl);
      const id = await newTerminal(a.page);
      await a.page.locator(`.tab[data-id="${id}"] .tab-label`).dblclick();
      await a.page.locator('input.tab-rename').fill('logs');
      await a.page.locator('input.tab-rename').press('Enter');
      await waitFor(async () => (await tabs(a.page))[0]?.name === 'logs', 'rename');
      await a.context.close();
      await k1.close();

      const k2 = await startKeel({ dataDir });
      try {
        const b = await openPage(browser, k2.startUrl);
        const prompt = b.page.locator('.restore');
        await waitFor(() => prompt.isVisible(), 'the restore prompt');
        assert.match((await prompt.textContent()) ?? '', /logs/);
        await prompt.locator('[data-testid="restore-yes"]').click();
        await waitFor(async () => (await tabs(b.page))[0]?.name === 'logs', 'the reopened tab');
        await waitForState(b.page, 'live');
        assert.equal(await prompt.isVisible(), false);
        await b.context.close();
      } finally {
        await k2.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * Issue 11, points 1 and 3 in a real browser: the page's xterm.js is left in the middle of a
 * sequence (CSI parameters, OSC, DCS, an ESC intermediate, an APC string) or shows a program's
 * screen (vim, and the shell after it), the socket drops, and the page reconnects reusing its
 * Terminal. Its full state after the snapshot (screen-state.ts, run in the page) must equal its
 * state before the drop, when it had been fed every byte.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { diffScreenState, extractScreenState, type ScreenState } from '../../src/terminals/screen-state.ts';
import { DESKTOP, launchBrowser, newTerminal, openPage, screen, startKeel, typeInTerminal, waitFor, waitForLine, waitForState, type BrowserKeel } from './harness.ts';

/** The full state of the page's terminal `id`, read in the page by the same code the Node tests use. */
function pageState(page: Page, id: string): Promise<ScreenState> {
  return page.evaluate(
    ({ src, id }) => {
      const extract = new Function(`return (${src})`)() as (t: unknown) => unknown;
      return extract((window as unknown as { __keel: { xterm(id: string): unknown } }).__keel.xterm(id));
    },
    { src: extractScreenState.toString(), id },
  ) as Promise<ScreenState>;
}

/** Waits until the terminal's state stops changing (output rendered), and returns it. */
async function settled(page: Page, id: string): Promise<ScreenState> {
  let last = '';
  let same = 0;
  return waitFor(async () => {
    const s = await pageState(page, id);
    const key = JSON.stringify(s);
    same = key === last ? same + 1 : 0;
    last = key;
    return same >= 3 ? s : undefined;
  }, 'the terminal to settle');
}

/** Drops the socket as a network failure would and waits until the page has reconnected (and so applied a new snapshot). */
async function dropAndReconnect(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __states: string[]; __keel: { dropConnection(): void } };
    w.__states = [];
    const el = document.querySelector('.term-view:not([hidden]) [data-testid="conn-state"]')!;
    const observer = new MutationObserver(() => w.__states.push(el.textContent ?? ''));
    observer.observe(el, { childList: true, characterData: true, subtree: true });
    w.__keel.dropConnection();
  });
  await waitFor(() => page.evaluate(() => (window as unknown as { __states: string[] }).__states.includes('reconnecting')), 'the tab to show "reconnecting"');
  await waitForState(page, 'live');
}

describe('terminal snapshots in the browser land on a clean parser and restore the screen', () => {
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

  it('after a frame that ended inside each kind of sequence, and with vim open and after it', async () => {
    const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    const id = await newTerminal(page);
    await typeInTerminal(page, "printf '\\e[1;33mbold yellow\\e[0m, \\e]8;;https://example.com/\\e\\\\a link\\e]8;;\\e\\\\ and \\e(0lqqk\\e(B\\n'; echo ready-$((6*7))\n");
    await waitForLine(page, 'ready-42');
    const opened: Record<string, string> = {
      'CSI parameters': "printf 'csi\\e[3'",
      OSC: "printf 'osc\\e]0;half a title'",
      DCS: "printf 'dcs\\eP1;2|some data'",
      'ESC intermediate': "printf 'esc\\e('",
      'APC string': "printf 'apc\\e_application'",
    };
    for (const [what, command] of Object.entries(opened)) {
      // The last output leaves the sequence open (the program then sleeps: bash's next prompt would close it).
      await typeInTerminal(page, `clear; echo marker-${what.length}; ${command}; sleep 60\n`);
      await waitFor(async () => (await screen(page)).includes(`marker-${what.length}`), `the ${what} output`);
      const expected = await settled(page, id);
      await dropAndReconnect(page);
      const actual = await settled(page, id);
      assert.deepEqual(diffScreenState(expected, actual), [], `after a frame that ended inside ${what}`);
      await page.keyboard.press('Control+C');
      await typeInTerminal(page, 'echo next-$((6*7))\n');
      await waitForLine(page, 'next-42');
    }

    // -n: no swap file (a test killed mid-edit must not leave vim a question for the next run).
    await typeInTerminal(page, 'clear; printf "\\e[32mgreen shell\\e[0m\\n"; vim -u DEFAULTS -i NONE -N -n keel-browser-vim.txt\n');
    await waitFor(async () => (await screen(page)).includes('keel-browser-vim.txt'), 'vim to open');
    await settled(page, id);
    // The keyboard only: a click would be a mouse event for vim (mouse=a).
    await page.keyboard.type('i');
    await waitFor(async () => (await screen(page)).includes('-- INSERT --'), 'insert mode');
    await page.keyboard.type('hello \u2014 “vim” 中文');
    await page.keyboard.press('Escape');
    await waitFor(async () => (await screen(page)).includes('hello'), 'the edit');
    const inVim = await settled(page, id);
    await dropAndReconnect(page);
    assert.deepEqual(diffScreenState(inVim, await settled(page, id)), [], 'vim open');
    await page.keyboard.type(':q!\n');
    await page.keyboard.type('echo after-$((6*7))\n');
    await waitForLine(page, 'after-42');
    const afterVim = await settled(page, id);
    assert.equal(afterVim.pen.fg, 0, 'the shell pen after :q');
    await dropAndReconnect(page);
    assert.deepEqual(diffScreenState(afterVim, await settled(page, id)), [], 'after :q');
    assert.deepEqual(errors, []);
    await context.close();
  });
});

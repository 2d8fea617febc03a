/**
 * One terminal, several screen sizes, in a real browser against a real PTY (issues 11.6, 11.7,
 * 11.8): frames are applied in order (a resize never overtakes the output before it), the size
 * follows the device that last typed or pressed "Fit here", and a device that does not control the
 * size shows the terminal at its real size, scaled or panned, with a buffer equal to the server's
 * mirror. Screenshots go to test-results/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { encodeClient } from '../../src/terminals/protocol.ts';
import { TestClient, type TestServer } from '../../src/terminals/test-helpers.ts';
import { DESKTOP, PHONE_CONTEXT, launchBrowser, newTerminal, openPage, screen, screenshot, startKeel, tabs, typeInTerminal, waitFor, waitForLine, waitForState, type BrowserKeel } from './harness.ts';

const MiB = 1024 * 1024;

async function mirrorText(k: BrowserKeel, id: string): Promise<string> {
  const r = await fetch(`${k.url}/api/terminals/${id}/screen?scrollback=2000`, { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } });
  return r.text();
}

/** The page's whole buffer (scrollback and screen) equals the server mirror's, once both have settled. */
async function assertBufferEqualsMirror(k: BrowserKeel, page: Page, id: string, what: string): Promise<void> {
  let last: { page: string; mirror: string } = { page: '', mirror: '' };
  try {
    await waitFor(async () => {
      last = { page: await screen(page, id), mirror: await mirrorText(k, id) };
      return last.page === last.mirror;
    }, what, 15_000);
  } catch (err) {
    const a = last.page.split('\n');
    const b = last.mirror.split('\n');
    const i = a.findIndex((l, n) => l !== b[n]);
    throw new Error(`${(err as Error).message}\nfirst difference at line ${i} of ${a.length} (mirror ${b.length}):\n page:   ${JSON.stringify(a.slice(i, i + 3))}\n mirror: ${JSON.stringify(b.slice(i, i + 3))}`);
  }
}

/** A Node viewer (another device) on the browser test's Keel. */
function device(k: BrowserKeel, id: string): TestClient {
  return new TestClient({ base: k.url, token: k.keel.ctx.auth.token } as unknown as TestServer, id, { render: false, keepText: false });
}

/** The size the server has for the terminal. */
function ptySize(k: BrowserKeel, id: string): string {
  const s = k.keel.ctx.services.terminals!.get(id)!;
  return `${s.cols}x${s.rows}`;
}

/**
 * A program whose output is many bytes but few rows, each row placing a mark at column 70 with a
 * cursor move: printed at 100 columns and reflowed to fewer it wraps; printed after a resize it does
 * not. A client that applies a resize before the output queued ahead of it differs from the mirror.
 */
function writeGenerator(dir: string): string {
  const file = path.join(dir, 'rows.js');
  fs.writeFileSync(
    file,
    `const noise = '\\x1b[31m\\x1b[0m'.repeat(600);
const [from, to] = process.argv.slice(2).map(Number);
let out = '';
for (let i = from; i < to; i++) out += 'row-' + i + noise + '\\x1b[70Gmark-' + i + '\\r\\n';
process.stdout.write(out + 'DONE-' + to + '\\r\\n');
`,
  );
  return file;
}

describe('terminal size across devices, in the browser', () => {
  let browser: Browser;
  let dir: string;
  before(async () => {
    browser = await launchBrowser();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-size-'));
  });
  after(async () => {
    await browser?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('output, then a resize, then output: the browser applies them in order and its buffer equals the mirror', async () => {
    // A high watermark of 8 MiB lets megabytes queue for the page ahead of the resize.
    const k = await startKeel({ terminalHighWatermarkBytes: 8 * MiB, terminalLowWatermarkBytes: 1 * MiB });
    try {
      const gen = writeGenerator(dir);
      const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
      const id = await newTerminal(page);
      const wide = ptySize(k, id);
      assert.ok(Number(wide.split('x')[0]) >= 100, `a desktop-wide terminal (${wide})`);
      // Another owner's device drives: it types (so it controls the size) and resizes.
      const other = device(k, id);
      await other.opened();
      await waitFor(() => other.snapshots === 1, 'the other device to attach');
      other.input('clear\r');
      await waitFor(async () => !(await mirrorText(k, id)).includes('$ clear'), 'the screen to clear');
      // The page's main thread is busy for a while (a slow phone, a long task): every frame waits on its socket.
      void page.evaluate(() => {
        const end = Date.now() + 6_000;
        while (Date.now() < end);
      });
      await new Promise((r) => setTimeout(r, 300));
      other.input(`node ${gen} 0 600\r`);
      await waitFor(async () => (await mirrorText(k, id)).includes('DONE-600'), 'the first output on the server', 30_000);
      other.ws.send(encodeClient.resize(60, 30));
      await waitFor(() => ptySize(k, id) === '60x30', 'the resize');
      other.input(`node ${gen} 600 700\r`);
      await waitFor(async () => (await mirrorText(k, id)).includes('DONE-700'), 'the second output on the server', 30_000);
      // Now the page wakes up and receives: output, m (the resize), output.
      await waitForLine(page, 'DONE-700', 60_000);
      await assertBufferEqualsMirror(k, page, id, 'the page buffer to equal the mirror after output + resize + output');
      assert.deepEqual(errors, []);
      other.close();
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('desktop and phone on one terminal: opening the phone leaves the size alone; typing on the phone takes it and the desktop shows it unchanged, scaled; "Fit here" takes it back; a read-only phone pans at a legible size', async () => {
    const k = await startKeel();
    try {
      const desk = await openPage(browser, k.startUrl, { viewport: DESKTOP });
      const id = await newTerminal(desk.page);
      const sizeCtl = (page: Page) => page.locator(`.term-view[data-terminal="${id}"] [data-testid="size-control"]`);
      await waitFor(async () => (await sizeCtl(desk.page).getAttribute('data-control')) === 'you', 'the desktop to control the size');
      const deskSize = ptySize(k, id);
      assert.ok(Number(deskSize.split('x')[0]) >= 100, `the desktop's size ${deskSize}`);
      await typeInTerminal(desk.page, 'seq -f "line-%g" 1 60; ls --color=always /usr\n');
      await waitForLine(desk.page, 'line-60');

      // The phone opens the same terminal: it sends its size, which is only a preference.
      const phone = await openPage(browser, k.startUrl, PHONE_CONTEXT);
      await waitFor(async () => (await tabs(phone.page)).length === 1, 'the tab on the phone');
      await waitForState(phone.page, 'live');
      await waitFor(async () => (await sizeCtl(phone.page).getAttribute('data-control')) === 'other', 'the phone to show "other device"');
      assert.match((await sizeCtl(phone.page).textContent()) ?? '', /size: other device\s*Fit here/);
      await new Promise((r) => setTimeout(r, 1_000)); // a resize that must not happen: give it time to
      assert.equal(ptySize(k, id), deskSize, 'opening the phone does not resize the terminal');
      // The phone shows the desktop's terminal at its real size: scaled to the legible minimum and panned.
      const phoneView = phone.page.locator(`.term-view[data-terminal="${id}"]`);
      const scale = Number(await phoneView.getAttribute('data-scale'));
      assert.ok(scale < 1 && scale >= 8 / 13 - 0.001, `phone scale ${scale}`);
      const pan = await phone.page.evaluate((tid) => {
        const host = document.querySelector(`.term-view[data-terminal="${tid}"] .term-host`) as HTMLElement;
        host.scrollLeft = 10_000;
        const r = { scrollWidth: host.scrollWidth, clientWidth: host.clientWidth, scrollLeft: host.scrollLeft };
        host.scrollLeft = 0;
        return r;
      }, id);
      assert.ok(pan.scrollWidth > pan.clientWidth && pan.scrollLeft > 0, `the phone pans sideways over the wide terminal: ${JSON.stringify(pan)}`);
      await assertBufferEqualsMirror(k, phone.page, id, 'the phone buffer to equal the mirror');
      await screenshot(phone.page, 'terminal-size-phone-watching-desktop');

      // Typing on the phone makes it the controller.
      await typeInTerminal(phone.page, 'echo typed-on-phone\n');
      await waitForLine(phone.page, 'typed-on-phone');
      await waitFor(async () => (await sizeCtl(phone.page).getAttribute('data-control')) === 'you', 'the phone to control the size');
      const phoneSize = ptySize(k, id);
      assert.ok(Number(phoneSize.split('x')[0]) < 60, `the phone's size ${phoneSize}`);
      await waitFor(async () => (await sizeCtl(desk.page).getAttribute('data-control')) === 'other', 'the desktop to show "other device"');
      assert.equal(await desk.page.locator(`.term-view[data-terminal="${id}"] [data-testid="fit-here"]`).isVisible(), true, 'the desktop offers "Fit here"');
      // The desktop shows the phone-sized terminal without garbling: its buffer equals the mirror's.
      await typeInTerminal(phone.page, 'ls --color=always /usr/share | head -40; echo after-phone\n');
      await waitForLine(desk.page, 'after-phone');
      await assertBufferEqualsMirror(k, desk.page, id, 'the desktop buffer to equal the mirror while the phone controls the size');
      await screenshot(desk.page, 'terminal-size-desktop-watching-phone');

      // "Fit here" on the desktop takes the size back.
      await desk.page.locator(`.term-view[data-terminal="${id}"] [data-testid="fit-here"]`).click();
      await waitFor(() => ptySize(k, id) === deskSize, 'the desktop size back');
      await waitFor(async () => (await sizeCtl(desk.page).getAttribute('data-control')) === 'you' && (await sizeCtl(phone.page).getAttribute('data-control')) === 'other', 'the badges to follow');
      await typeInTerminal(desk.page, 'echo back-on-desktop\n');
      await waitForLine(phone.page, 'back-on-desktop');
      await assertBufferEqualsMirror(k, phone.page, id, 'the phone buffer to equal the mirror again');
      await assertBufferEqualsMirror(k, desk.page, id, 'the desktop buffer to equal the mirror again');

      // A read-only viewer on a phone: no "Fit here", reads the wide terminal at a legible size and pans.
      const info = (await (await fetch(`${k.url}/api/terminals/${id}/shares`, { method: 'POST', headers: { authorization: `Bearer ${k.keel.ctx.auth.token}`, origin: k.url, 'content-type': 'application/json' }, body: '{}' })).json()) as { share: string };
      const roCtx = await browser.newContext(PHONE_CONTEXT);
      const ro = await roCtx.newPage();
      await ro.goto(`${k.url}/#/t/${id}?share=${encodeURIComponent(info.share)}`);
      await waitFor(async () => (await ro.evaluate(() => (window as unknown as { __keel?: unknown }).__keel !== undefined)), 'the read-only page');
      await waitForState(ro, 'live');
      await waitFor(async () => (await sizeCtl(ro).getAttribute('data-control')) === 'other', 'the read-only badge');
      assert.equal(await ro.locator(`.term-view[data-terminal="${id}"] [data-testid="fit-here"]`).isVisible(), false, 'no "Fit here" on a read-only view');
      const roScale = Number(await ro.locator(`.term-view[data-terminal="${id}"]`).getAttribute('data-scale'));
      assert.ok(roScale >= 8 / 13 - 0.001 && roScale < 1, `read-only phone scale ${roScale}`);
      assert.equal(ptySize(k, id), deskSize);
      await assertBufferEqualsMirror(k, ro, id, 'the read-only phone buffer to equal the mirror');
      await screenshot(ro, 'terminal-size-read-only-phone');
      assert.deepEqual([...desk.errors, ...phone.errors], []);
      await roCtx.close();
      await phone.context.close();
      await desk.context.close();
    } finally {
      await k.close();
    }
  });
});

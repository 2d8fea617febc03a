/**
 * Chromium and a host process establish a WebRTC data channel on loopback (the host offers with
 * werift; Chromium needs --allow-loopback-in-peer-connection, and real addresses instead of mDNS
 * names). The terminal's traffic moves to it — the relay's byte counters stop growing while the
 * terminal keeps working, the badge says "Direct" — and falls back when the channel is closed from
 * the page or from the host: the badge says "Relayed" and the same terminal keeps working.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { PHONE_CONTEXT, ensureWebBuilt, launchBrowser, newTerminal, screenshot, typeInTerminal, waitFor, waitForLine } from '../browser/harness.ts';
import { pair, relayCounters, startHost, startRelay, type HostProc, type RelayProc } from './harness.ts';

const WEBRTC_LOOPBACK = ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'];

describe('a phone browser moves to a direct WebRTC path and back', () => {
  let browser: Browser;
  let relay: RelayProc;
  let host: HostProc;
  before(async () => {
    ensureWebBuilt();
    browser = await launchBrowser(WEBRTC_LOOPBACK);
    relay = await startRelay();
    host = await startHost(relay.url, { args: ['--relay-direct-addresses', '127.0.0.1'] });
  });
  after(async () => {
    await browser?.close();
    await host?.kill();
    await relay?.kill();
    if (host) fs.rmSync(host.dataDir, { recursive: true, force: true });
  });

  const path = (page: Page) => page.evaluate(() => (window as unknown as { __keelRelay: { path: string } }).__keelRelay.path);
  const badge = (page: Page) => page.locator('[data-testid="relay-path"]').textContent();
  const relayBytes = async () => {
    const r = await relayCounters(relay.url);
    return r.bytes_to_host + r.bytes_to_browser;
  };

  it('carries the terminal directly, and falls back when the page or the host closes the channel', async () => {
    const { link } = await pair(host);
    const context = await browser.newContext(PHONE_CONTEXT);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(link, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 30_000 });
    await newTerminal(page);
    await typeInTerminal(page, 'echo hello-$((6*7))\n');
    await waitForLine(page, 'hello-42');

    await waitFor(async () => (await path(page)) === 'direct', 'the direct path to open', 40_000);
    await waitFor(async () => (await badge(page))?.includes('Direct'), 'the badge to say Direct');
    await screenshot(page, 'relay-direct-badge');

    const before = await relayBytes();
    await typeInTerminal(page, 'seq 1 20000 | tail -n 5000; echo direct-$((50+5))\n');
    await waitForLine(page, 'direct-55', 60_000);
    const grew = (await relayBytes()) - before;
    assert.ok(grew < 3_000, `the relay carried ${grew} bytes while the terminal printed ~30 KB directly (keepalives only)`);

    // Closed by the page: back to the relay, same terminal.
    await page.evaluate(() => (window as unknown as { __keelRelay: { dropDirect(): void } }).__keelRelay.dropDirect());
    await waitFor(async () => (await path(page)) === 'relayed', 'the page to fall back');
    await waitFor(async () => (await badge(page))?.includes('Relayed'), 'the badge to say Relayed');
    const atDrop = await relayBytes();
    await typeInTerminal(page, 'echo relayed-$((30+3))\n');
    await waitForLine(page, 'relayed-33');
    assert.ok((await relayBytes()) - atDrop > 100, 'the relay carries the terminal again');

    // Direct again, then closed by the host.
    await page.evaluate(() => (window as unknown as { __keelRelay: { tryDirect(): void } }).__keelRelay.tryDirect());
    await waitFor(async () => (await path(page)) === 'direct', 'the direct path to open again', 40_000);
    const r = await fetch(`${host.url}/api/relay/direct/drop`, { method: 'POST', headers: host.auth });
    assert.equal(((await r.json()) as { dropped: number }).dropped, 1);
    await waitFor(async () => (await path(page)) === 'relayed', 'the page to notice the host closed the channel');
    await typeInTerminal(page, 'echo after-host-drop-$((9*9))\n');
    await waitForLine(page, 'after-host-drop-81');

    const state = await page.evaluate(() => (window as unknown as { __keelRelay: { state: string } }).__keelRelay.state);
    assert.equal(state, 'open', 'the tunnel itself never dropped');
    assert.deepEqual(errors, []);
    await context.close();
  });
});

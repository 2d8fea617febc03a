/**
 * Issue 13 with real processes on loopback: a relay process, a host process dialling out to it, and
 * Chromium at a phone-sized viewport opening the pairing link. Pair, open a terminal, type, see
 * output; kill the relay and start it again: the page reconnects by itself and the terminal screen
 * is exact; revoke the pairing: the page is refused with a clear message.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { PHONE_CONTEXT, ensureWebBuilt, launchBrowser, newTerminal, screen, screenshot, typeInTerminal, waitFor, waitForLine, waitForState } from '../browser/harness.ts';
import { pair, startHost, startRelay, waitRegistered, type HostProc, type RelayProc } from './harness.ts';

describe('a phone reaches a host through the relay', () => {
  let browser: Browser;
  let relay: RelayProc | undefined;
  let host: HostProc | undefined;
  before(async () => {
    ensureWebBuilt();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await host?.kill();
    await relay?.kill();
    if (host) fs.rmSync(host.dataDir, { recursive: true, force: true });
  });

  it('pairs, runs a terminal, survives a relay restart with the exact screen, and is refused once revoked', async () => {
    relay = await startRelay();
    host = await startHost(relay.url);
    const { link, id: pairingId, parsed } = await pair(host);
    const secret = new URL(link).hash;

    const context = await browser.newContext(PHONE_CONTEXT);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(link, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 30_000 });
    assert.equal(new URL(page.url()).hash.includes('pair='), false, 'the secret left the address bar');
    assert.equal(page.url().includes(secret.slice(6)), false);

    await newTerminal(page);
    await typeInTerminal(page, 'echo relayed-$((6*7))\n');
    await waitForLine(page, 'relayed-42');
    await typeInTerminal(page, "printf '\\033[1;32mgreen\\033[0m over the relay\\n'\n");
    await waitForLine(page, 'green over the relay');
    const before = await screen(page);
    await screenshot(page, 'relay-phone-terminal');

    // Kill the relay hard, start a new one on the same port: host and page come back by themselves.
    // The tab keeps saying "live" until its reconnect probe (a fetch through the tunnel) answers, which
    // may be after the tunnel reopens: note in the page whether the tab has really been down since.
    await page.evaluate(() => {
      const w = window as unknown as { __keel: { tabs(): { active: boolean; state: string }[] }; __tabWentDown?: boolean };
      const timer = setInterval(() => {
        if (w.__keel.tabs().find((t) => t.active)?.state === 'live') return;
        w.__tabWentDown = true;
        clearInterval(timer);
      }, 10);
    });
    await relay.kill('SIGKILL');
    await waitFor(() => page.evaluate(() => (window as unknown as { __keelRelay: { state: string } }).__keelRelay.state !== 'open'), 'the page to notice the relay is gone');
    relay = await startRelay({ port: relay.port });
    await waitRegistered(host);
    await waitFor(() => page.evaluate(() => (window as unknown as { __keelRelay: { state: string } }).__keelRelay.state === 'open'), 'the tunnel to reopen', 40_000);
    await waitFor(() => page.evaluate(() => (window as unknown as { __tabWentDown?: boolean }).__tabWentDown === true), 'the terminal to notice its socket closed', 40_000);
    await waitForState(page, 'live', 40_000);
    await waitFor(async () => (await screen(page)) === before, 'the exact same screen after the relay restart', 30_000);
    await typeInTerminal(page, 'echo after-restart\n');
    await waitForLine(page, 'after-restart');

    // A reload keeps the pairing (IndexedDB) without the link.
    await page.goto(new URL(link).origin + '/', { waitUntil: 'domcontentloaded' });
    await waitFor(() => page.evaluate(() => (window as unknown as { __keelRelay?: { state: string } }).__keelRelay?.state === 'open'), 'the remembered pairing to connect');
    await waitForLine(page, 'after-restart');

    // Revoke: the open page is refused with a message, and so is a reload.
    const del = await fetch(`${host.url}/api/relay/pairings/${pairingId}`, { method: 'DELETE', headers: host.auth });
    assert.equal(del.status, 204);
    const refused = page.locator('[data-testid="relay-status"][data-state="refused"]');
    await refused.waitFor({ timeout: 20_000 });
    assert.match((await refused.textContent()) ?? '', /refused|revoked/i);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await refused.waitFor({ timeout: 20_000 });
    assert.match((await refused.textContent()) ?? '', /revoked or never existed/);
    await screenshot(page, 'relay-phone-refused');
    assert.deepEqual(errors, []);
    assert.equal(parsed.hostId.length, 22);
    await context.close();
  });
});

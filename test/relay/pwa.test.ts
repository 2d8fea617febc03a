/**
 * The installable app, in Chromium at a phone's size: the service worker registers on Keel and on
 * the relay, the manifest is valid (name, icons that are real PNGs of their stated sizes,
 * start_url, display) and reachable under both Content-Security-Policies without a violation;
 * the worker's cache holds the shell and its built files and never an API answer or a token; and
 * with the server stopped a reload opens the "reconnecting" shell, which comes back by itself when
 * the server does — on Keel, and on a relay with a paired phone.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { PHONE_CONTEXT, ensureWebBuilt, launchBrowser, screenshot, startKeel, waitFor, type BrowserKeel } from '../browser/harness.ts';
import { pair, startHost, startRelay, waitRegistered, type HostProc, type RelayProc } from './harness.ts';

interface Manifest {
  name: string;
  short_name: string;
  start_url: string;
  display: string;
  scope: string;
  icons: { src: string; sizes: string; type: string; purpose: string }[];
}

/** Width and height from a PNG's IHDR chunk; throws when it is not a PNG. */
function pngSize(b: Buffer): { width: number; height: number } {
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  assert.equal(b.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

async function checkManifest(origin: string): Promise<Manifest> {
  const res = await fetch(`${origin}/manifest.webmanifest`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/manifest\+json/);
  const m = (await res.json()) as Manifest;
  assert.equal(m.name, 'Keel');
  assert.ok(m.short_name);
  assert.ok(m.start_url.startsWith('/'));
  assert.equal(m.display, 'standalone');
  assert.equal(m.scope, '/');
  for (const need of ['192x192', '512x512']) assert.ok(m.icons.some((i) => i.sizes === need && i.type === 'image/png'), `an icon of ${need}`);
  assert.ok(m.icons.some((i) => i.purpose === 'maskable'));
  for (const icon of m.icons.filter((i) => i.type === 'image/png')) {
    const r = await fetch(origin + icon.src);
    assert.equal(r.status, 200, icon.src);
    const [w, h] = icon.sizes.split('x').map(Number);
    assert.deepEqual(pngSize(Buffer.from(await r.arrayBuffer())), { width: w, height: h }, icon.src);
  }
  const sw = await fetch(`${origin}/sw.js`);
  assert.equal(sw.status, 200);
  assert.match(sw.headers.get('content-type') ?? '', /javascript/);
  assert.equal(sw.headers.get('cache-control'), 'no-cache');
  return m;
}

function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  return violations;
}

async function swReady(page: Page): Promise<void> {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await waitFor(() => page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker to control the page (clients.claim)');
}

async function cachedPaths(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const out: string[] = [];
    for (const n of await caches.keys()) for (const r of await (await caches.open(n)).keys()) out.push(new URL(r.url).pathname + new URL(r.url).search);
    return out;
  });
}

describe('the installable app', () => {
  let browser: Browser;
  before(async () => {
    ensureWebBuilt();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('on Keel: registers its worker, has a valid manifest, caches only the shell, and opens to "Reconnecting" with Keel stopped', async () => {
    let keel: BrowserKeel = await startKeel();
    const dataDir = keel.dataDir;
    const port = new URL(keel.url).port;
    try {
      await checkManifest(keel.url);
      const context = await browser.newContext(PHONE_CONTEXT);
      const page = await context.newPage();
      const csp = watchCsp(page);
      await page.goto(keel.startUrl, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 30_000 });
      assert.equal(await page.locator('link[rel="manifest"]').getAttribute('href'), '/manifest.webmanifest');
      await swReady(page);
      // A reload under the worker: the shell and its files go into the cache.
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);
      await waitFor(async () => (await cachedPaths(page)).some((p) => p.startsWith('/assets/') && p.endsWith('.js')), 'the built script in the cache');
      const cached = await cachedPaths(page);
      assert.ok(cached.includes('/'), cached.join(' '));
      assert.deepEqual(
        cached.filter((p) => p.startsWith('/api') || p.includes('token') || p.startsWith('/stream') || p.startsWith('/debug') || p.startsWith('/healthz')),
        [],
        'no API answer, stream or token in the cache',
      );

      // Keel stops: a reload opens the cached shell, which says it is reconnecting.
      await keel.close();
      await page.reload({ waitUntil: 'domcontentloaded' });
      const offline = page.locator('[data-testid="app-offline"]');
      await offline.waitFor({ timeout: 20_000 });
      assert.match((await offline.textContent()) ?? '', /Reconnecting to Keel/);
      await screenshot(page, 'pwa-keel-reconnecting');

      // Keel comes back on the same port: the page opens by itself.
      keel = await startKeel({ dataDir, port: Number(port) });
      await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 30_000 });
      await waitFor(async () => (await page.locator('[data-testid="app-offline"]').count()) === 0, 'the reconnecting shell to go');
      assert.deepEqual(csp, []);
      await context.close();
    } finally {
      await keel.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe('on a relay', () => {
    let relay: RelayProc | undefined;
    let host: HostProc | undefined;
    after(async () => {
      await host?.kill();
      await relay?.kill();
      if (host) fs.rmSync(host.dataDir, { recursive: true, force: true });
    });

    it('registers its worker under the relay CSP, and a paired phone opens to "Reconnecting to your host" with the relay down', async () => {
      relay = await startRelay();
      host = await startHost(relay.url);
      await checkManifest(relay.url);
      assert.match((await fetch(`${relay.url}/sw.js`)).headers.get('content-security-policy') ?? '', /script-src 'self'/);
      const { link } = await pair(host);
      const context = await browser.newContext(PHONE_CONTEXT);
      const page = await context.newPage();
      const csp = watchCsp(page);
      await page.goto(link, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 30_000 });
      await swReady(page);
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 30_000 });
      await waitFor(async () => (await cachedPaths(page)).includes('/'), 'the relay shell in the cache');

      const port = relay.port;
      await relay.kill('SIGKILL');
      await page.reload({ waitUntil: 'domcontentloaded' });
      const status = page.locator('[data-testid="relay-status"]');
      await waitFor(async () => /Reconnecting to your host/.test((await status.textContent()) ?? ''), 'the reconnecting shell', 30_000);
      await screenshot(page, 'pwa-relay-reconnecting');

      relay = await startRelay({ port });
      await waitRegistered(host);
      await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: 40_000 });
      assert.deepEqual(csp, []);
      await context.close();
    });
  });
});

/**
 * Issue 10, point 5 in a real browser: the Share button creates a read-only link and copies it, the
 * panel lists the terminal's links with their expiry, and Revoke ends a link — the viewer watching
 * through it is disconnected with the reason, the others keep working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { formatExpiry } from '../../web/src/terminals/share.ts';
import { DESKTOP, launchBrowser, newTerminal, openPage, screenshot, startKeel, tabs, typeInTerminal, waitFor, waitForLine, waitForState } from './harness.ts';

async function items(page: Page): Promise<{ id: string; text: string }[]> {
  return page.locator('[data-testid="share-item"]').evaluateAll((els) => els.map((e) => ({ id: (e as HTMLElement).dataset.id!, text: e.textContent ?? '' })));
}

describe('terminal share links in the browser', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('Share creates and copies a link; the list shows expiry; Revoke disconnects its viewer', async () => {
    const k = await startKeel();
    try {
      const owner = await openPage(browser, k.startUrl, { viewport: DESKTOP });
      await owner.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: k.url });
      const id = await newTerminal(owner.page);

      await owner.page.locator('[data-testid="share"]').click();
      await waitFor(async () => (await items(owner.page)).length === 1, 'one link in the list');
      const [first] = await items(owner.page);
      assert.match(first!.text, /Expires in 2[34] h/, 'the default lifetime is 24 h');
      const copied = await owner.page.evaluate(() => navigator.clipboard.readText());
      assert.ok(copied.startsWith(`${k.url}/#/t/${id}?share=`), `a page link to this terminal: ${copied}`);
      assert.match(copied, new RegExp(`#/t/${id}\\?share=${first!.id}\\.`), 'the copied link is the listed one');

      // A second link, to show that revoking one leaves the other working.
      await owner.page.locator('[data-testid="share-new"]').click();
      await waitFor(async () => (await items(owner.page)).length === 2, 'two links in the list');
      const second = (await items(owner.page)).find((i) => i.id !== first!.id)!;
      const secondLink = await owner.page.evaluate(() => navigator.clipboard.readText());
      assert.match(secondLink, new RegExp(`share=${second.id}\\.`));

      const watchers: { page: Page; close(): Promise<void> }[] = [];
      for (const link of [copied, secondLink]) {
        const ctx = await browser.newContext({ viewport: DESKTOP });
        const page = await ctx.newPage();
        await page.goto(link);
        await waitFor(async () => page.evaluate(() => (window as unknown as { __keel?: unknown }).__keel !== undefined), 'the viewer page');
        await waitForState(page, 'live');
        await waitFor(async () => (await tabs(page))[0]?.role === 'read-only', 'role read-only');
        watchers.push({ page, close: () => ctx.close() });
      }
      await typeInTerminal(owner.page, 'echo shared-$((6*7))\n');
      for (const w of watchers) await waitForLine(w.page, 'shared-42');
      await screenshot(owner.page, 'terminal-share-links');

      await owner.page.locator(`[data-testid="share-item"][data-id="${first!.id}"] [data-testid="share-revoke"]`).click();
      await waitFor(async () => (await items(owner.page)).map((i) => i.id).join() === second.id, 'the revoked link to leave the list');
      const revoked = watchers[0]!.page;
      await waitForState(revoked, 'failed');
      await waitFor(async () => /share link revoked/.test((await revoked.locator('.term-view:not([hidden]) .banner').textContent()) ?? ''), 'the revoked viewer to say why');
      await screenshot(revoked, 'terminal-share-revoked');
      // The other viewer still watches live.
      await typeInTerminal(owner.page, 'echo still-$((7*6))\n');
      await waitForLine(watchers[1]!.page, 'still-42');
      assert.equal((await tabs(watchers[1]!.page))[0]?.state, 'live');

      // The server agrees: one live link; the revoked one opens nothing.
      const list = await (await fetch(`${k.url}/api/terminals/${id}/shares`, { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } })).json();
      assert.deepEqual(list.shares.map((l: { id: string }) => l.id), [second.id]);
      const again = await browser.newContext({ viewport: DESKTOP });
      const p = await again.newPage();
      await p.goto(copied);
      await waitFor(async () => /not valid|revoked|expired/i.test((await p.locator('.banner').first().textContent().catch(() => '')) ?? ''), 'a reopened revoked link to be refused');
      await again.close();

      assert.deepEqual(owner.errors, []);
      for (const w of watchers) await w.close();
      await owner.context.close();
    } finally {
      await k.close();
    }
  });
});

describe('share link expiry text', () => {
  it('says how long is left, and "expired" once it is past', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const at = (ms: number) => new Date(now + ms).toISOString();
    assert.equal(formatExpiry(at(86_400_000 - 60_000), now), 'in 23 h 59 min');
    assert.equal(formatExpiry(at(3 * 3_600_000), now), 'in 3 h');
    assert.equal(formatExpiry(at(5 * 60_000 + 30_000), now), 'in 5 min');
    assert.equal(formatExpiry(at(42_000), now), 'in 42 s');
    assert.equal(formatExpiry(at(7 * 86_400_000), now), 'in 7 days');
    assert.equal(formatExpiry(at(0), now), 'expired');
    assert.equal(formatExpiry('not a date', now), 'expired');
  });
});

/**
 * Issue 10, point 4 in a real browser: while keel.db is locked by another process, every page shows
 * a banner saying so (edits are kept in memory), and it goes away once the kept writes have landed.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { lockDatabase } from '../db-lock.ts';
import { request } from '../helpers.ts';
import { launchBrowser, openPage, screenshot, startKeel, waitFor } from './harness.ts';

describe('UI: storage state', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('a banner on every page while the database is locked, with what is kept; gone once it is written', async () => {
    const k = await startKeel();
    const { page, context, errors } = await openPage(browser, k.startUrl);
    try {
      const banner = page.locator('[data-testid="storage-banner"]');
      await waitFor(async () => /\d+(\.\d)? MB/.test((await page.locator('[data-testid="health-chip"]').textContent()) ?? ''), 'the live feed');
      assert.equal(await banner.isVisible(), false, 'no banner while storage is fine');
      const lock = await lockDatabase(path.join(k.dataDir, 'keel.db'));
      try {
        const res = await request(k.url + '/api/chat/sessions', { method: 'POST', headers: { authorization: `Bearer ${k.keel.ctx.auth.token}`, 'content-type': 'application/json' }, body: '{"title":"while locked"}' });
        assert.equal(res.status, 201, res.text);
        await waitFor(async () => (await banner.isVisible()) && /Another process holds a lock on the database/.test((await banner.textContent()) ?? ''), 'the banner to say the database is locked');
        assert.match((await banner.textContent()) ?? '', /1 change is kept in memory/);
        await page.locator('a[data-nav="docs"]').click();
        assert.equal(await banner.isVisible(), true, 'on the Documents page too');
        await page.locator('a[data-nav="health"]').click();
        await waitFor(async () => /Storage degraded \(locked\)/.test((await page.locator('[data-testid="storage-state"]').textContent()) ?? ''), 'the Health page to show it');
        await screenshot(page, 'storage-degraded');
      } finally {
        await lock.release();
      }
      await waitFor(async () => !(await banner.isVisible()), 'the banner to go once the write landed');
      await waitFor(async () => (await page.locator('[data-testid="storage-state"]').textContent()) === 'Storage: OK', 'the Health page to say OK');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      await k.close();
    }
  });
});

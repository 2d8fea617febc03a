/**
 * Issue 2 in a real browser: the UI shell served with the token, its navigation, and the live
 * health panel (numbers, plot, limits, state colours, cleanups, and the polling fallback when the
 * live feed is refused). Screenshots of the Health page go to test-results/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { MemoryReading } from '../../src/observe/health-monitor.ts';
import { DESKTOP, PHONE_CONTEXT, hasHorizontalScroll, launchBrowser, openPage, screenshot, startKeel, waitFor } from './harness.ts';

const MB = 1024 * 1024;

describe('UI shell and health panel', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('exchanges the token for a cookie and shows the shell: name, navigation to every page, health chip', async () => {
    const k = await startKeel();
    try {
      const { page, context, errors } = await openPage(browser, k.startUrl);
      assert.equal(new URL(page.url()).search, '', 'the token is dropped from the address bar');
      const cookies = await context.cookies();
      const auth = cookies.find((c) => c.name === 'keel_auth');
      assert.ok(auth?.httpOnly, 'auth cookie is HttpOnly');
      assert.equal(await page.title(), 'Keel');
      assert.equal((await page.locator('.brand-name').textContent())?.trim(), 'Keel');
      const nav = page.locator('nav.nav');
      for (const [key, href] of [['terminals', '#/terminals'], ['health', '#/health'], ['chat', '#/chat'], ['docs', '#/docs']]) {
        assert.equal(await nav.locator(`a[data-nav="${key}"]`).getAttribute('href'), href, `nav link to ${key}`);
      }
      assert.equal(await nav.locator('a[data-nav="terminals"]').getAttribute('class'), 'nav-item active', 'Terminals is the start page');
      // The header's health chip fills from the live feed on every page.
      await waitFor(async () => /\d+(\.\d)? MB/.test((await page.locator('[data-testid="health-chip"]').textContent()) ?? ''), 'the health chip to show RSS');
      await page.locator('a[data-nav="health"]').click();
      await waitFor(async () => (await page.locator('[data-testid="health-panel"]').isVisible()) && (await page.locator('.page-terminals').isHidden()), 'the Health page to replace the Terminals page');
      assert.equal(page.url().endsWith('#/health'), true);
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('a visitor without the token sees how to sign in, and nothing of the server', async () => {
    const k = await startKeel();
    try {
      const context = await browser.newContext({ viewport: DESKTOP });
      const page = await context.newPage();
      // The page's timers are fake, so "does it keep polling?" is asked without waiting minutes.
      await page.clock.install();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const res = await page.goto(k.url + '/');
      assert.equal(res?.status(), 401);
      await waitFor(async () => /needs its access token/.test((await page.locator('.signin').textContent().catch(() => '')) ?? ''), 'the sign-in message');
      assert.match((await page.locator('.signin').textContent()) ?? '', /\?token=/);
      assert.equal(await page.locator('.term-view').count(), 0, 'no terminal is shown');
      assert.equal(await page.locator('[data-testid="health-chip"]').count(), 0, 'no health chip for a visitor');
      // Signed out, the page stops: two minutes of its timers send nothing (no polling, no socket retries).
      const later: string[] = [];
      page.on('request', (r) => later.push(r.url()));
      await page.clock.runFor(120_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(later, []);
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('health panel shows live numbers, limits, budget and a growing plot; desktop and phone screenshots', async () => {
    const k = await startKeel({ healthSampleMs: 200 });
    try {
      const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
      await page.goto(k.url + '/#/health');
      await waitFor(async () => (await page.locator('[data-testid="feed-mode"]').textContent()) === 'live', 'the live feed (/debug/live) to connect');
      for (const id of ['rss', 'heap', 'external']) {
        await waitFor(async () => /^\d+(\.\d)? MB$/.test((await page.locator(`[data-testid="${id}"]`).textContent()) ?? ''), `${id} to show a number in MB`);
      }
      const rssShown = Number.parseFloat((await page.locator('[data-testid="rss"]').textContent())!);
      const report = (await (await fetch(k.url + '/debug/memory', { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } })).json()) as { memory: { rss_mb: number } };
      assert.ok(Math.abs(rssShown - report.memory.rss_mb) < report.memory.rss_mb * 0.5 + 50, `RSS shown (${rssShown}) is the server's (${report.memory.rss_mb})`);
      assert.match((await page.locator('[data-testid="handles"]').textContent()) ?? '', /^\d+$/);
      assert.match((await page.locator('[data-testid="lag"]').textContent()) ?? '', /ms$/);
      assert.equal(await page.locator('[data-testid="health-state"]').getAttribute('data-state'), 'ok');
      // Connections against their limits: this very dashboard holds one live-viewer slot.
      const live = page.locator('[data-testid="connections"] [data-kind="live_viewers"]');
      await waitFor(async () => /1 \/ 16/.test((await live.textContent()) ?? ''), 'live viewers to read "1 / 16"');
      await waitFor(async () => /worst case|MB/.test((await page.locator('[data-testid="budget"]').textContent()) ?? ''), 'the budget to render');
      assert.ok((await page.locator('[data-testid="budget"] .budget-row').count()) >= 2, 'budget by subsystem');
      // New samples keep arriving over the socket and extend the plot.
      const count = async () => (await page.locator('polyline.series-rss').getAttribute('points'))?.split(' ').filter(Boolean).length ?? 0;
      const first = await waitFor(count, 'the plot to have points');
      await waitFor(async () => (await count()) > first + 2, 'the plot to grow with live samples');
      await screenshot(page, 'health-desktop');
      assert.deepEqual(errors, []);
      await context.close();

      const phone = await openPage(browser, k.startUrl, PHONE_CONTEXT);
      await phone.page.goto(k.url + '/#/health');
      await waitFor(async () => /^\d+(\.\d)? MB$/.test((await phone.page.locator('[data-testid="rss"]').textContent()) ?? ''), 'RSS on the phone');
      await waitFor(async () => (await phone.page.locator('polyline.series-rss').getAttribute('points'))?.includes(' '), 'the plot on the phone');
      assert.equal(await hasHorizontalScroll(phone.page), false, 'no horizontal scroll at 390 px');
      // Every page's link fits in the phone's top bar: none squeezed out of sight by the buttons beside them
      // (the Terminals page adds the Agent button).
      for (const route of ['#/terminals', '#/health']) {
      await phone.page.goto(k.url + '/' + route);
      await phone.page.locator('.nav-item').first().waitFor();
      const navVisible = await phone.page.evaluate(() => {
        const bar = document.querySelector('.topbar')!.getBoundingClientRect();
        return [...document.querySelectorAll<HTMLElement>('.nav-item')].map((a) => {
          const r = a.getBoundingClientRect();
          const nav = a.closest('.nav')!.getBoundingClientRect();
          return { nav: a.dataset.nav, visible: r.width > 0 && r.left >= bar.left && r.right <= Math.min(bar.right, nav.right) + 0.5 };
        });
      });
      assert.deepEqual(navVisible.map((n) => n.nav), ['terminals', 'health', 'chat', 'docs']);
      assert.deepEqual(navVisible.filter((n) => !n.visible), [], `every nav link visible on the phone (${route})`);
      }
      await screenshot(phone.page, 'health-phone');
      assert.deepEqual(phone.errors, []);
      await phone.context.close();
    } finally {
      await k.close();
    }
  });

  it('colours the health state through warning and critical, and lists the cleanups', async () => {
    let rss = 100 * MB;
    const readMemory = (): MemoryReading => ({ rss, heapUsed: 40 * MB, heapTotal: 60 * MB, external: 2 * MB, arrayBuffers: MB });
    const k = await startKeel({ healthSampleMs: 200, memoryWarnMb: 512, memoryCriticalMb: 1024, trimCooldownMs: 1000 }, { readMemory });
    try {
      const { page, context } = await openPage(browser, k.startUrl);
      await page.goto(k.url + '/#/health');
      const state = page.locator('[data-testid="health-state"]');
      await waitFor(async () => (await state.getAttribute('data-state')) === 'ok', 'state ok');
      rss = 600 * MB;
      await waitFor(async () => (await state.getAttribute('data-state')) === 'warning', 'state warning at 600 MB');
      assert.match((await state.textContent()) ?? '', /Warning/);
      assert.equal(await state.evaluate((el) => getComputedStyle(el).color), 'rgb(210, 153, 34)', 'warning colour');
      await waitFor(async () => (await page.locator('[data-testid="health-chip"] .dot').getAttribute('class'))?.includes('dot-warning'), 'the header chip to turn to warning');
      rss = 1100 * MB;
      await waitFor(async () => /shedding/.test((await state.textContent()) ?? ''), 'critical: shedding load');
      assert.equal(await state.evaluate((el) => getComputedStyle(el).color), 'rgb(248, 81, 73)', 'critical colour');
      rss = 100 * MB;
      await waitFor(async () => (await state.getAttribute('data-state')) === 'ok', 'back to ok');
      const cleanups = page.locator('[data-testid="cleanups"]');
      await waitFor(async () => {
        const t = (await cleanups.textContent()) ?? '';
        return t.includes('shed') && t.includes('recover');
      }, 'the shed and recover records among recent cleanups');
      await screenshot(page, 'health-after-critical');
      await context.close();
    } finally {
      await k.close();
    }
  });

  it('falls back to polling /debug/memory when the live feed is at its limit', async () => {
    const k = await startKeel({ maxLiveViewers: 1, healthSampleMs: 200 });
    try {
      const a = await openPage(browser, k.startUrl);
      await a.page.goto(k.url + '/#/health');
      await waitFor(async () => (await a.page.locator('[data-testid="feed-mode"]').textContent()) === 'live', 'the first dashboard to be live');
      const b = await openPage(browser, k.startUrl);
      await b.page.goto(k.url + '/#/health');
      await waitFor(async () => (await b.page.locator('[data-testid="feed-mode"]').textContent()) === 'polling', 'the second dashboard to fall back to polling');
      assert.match((await b.page.locator('.feed-note').textContent()) ?? '', /Polling every/);
      await waitFor(async () => /^\d+(\.\d)? MB$/.test((await b.page.locator('[data-testid="rss"]').textContent()) ?? ''), 'numbers while polling');
      const count = async () => (await b.page.locator('polyline.series-rss').getAttribute('points'))?.split(' ').filter(Boolean).length ?? 0;
      const first = await count();
      await waitFor(async () => (await count()) > first, 'polled samples to extend the plot');
      await a.context.close();
      await b.context.close();
    } finally {
      await k.close();
    }
  });
});

/**
 * Issue 11.9 on a phone-sized Chromium page with touch: a swipe scrolls the scrollback (xterm.js 6
 * has no touch scrolling), in the alternate screen a swipe reaches the program as wheel steps, a
 * sideways swipe still pans a terminal that another device sized wider than the phone, the tab's
 * close button is a 40 px target, and the Chat and Agent buttons do not look alike.
 * Touches are real touch input (CDP Input.dispatchTouchEvent), so the browser's own panning runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CDPSession, Page } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { DESKTOP, PHONE_CONTEXT, launchBrowser, newTerminal, openPage, screenshot, startKeel, tabs, typeInTerminal, waitFor, waitForLine, waitForState, type BrowserKeel } from './harness.ts';

interface ScrollState {
  viewportY: number;
  baseY: number;
  type: string;
}
const scrollState = (page: Page, id?: string) => page.evaluate((i) => (window as unknown as { __keel: { scroll(id?: string): ScrollState } }).__keel.scroll(i), id);

/** A one-finger swipe from (x, y0) to (x1, y1) in `steps` moves, 16 ms apart (a steady drag, no flick unless `flick`). */
async function swipe(cdp: CDPSession, from: { x: number; y: number }, to: { x: number; y: number }, steps = 12, stepMs = 16): Promise<void> {
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x: from.x, y: from.y, id: 1 }] });
  for (let i = 1; i <= steps; i++) {
    const x = from.x + ((to.x - from.x) * i) / steps;
    const y = from.y + ((to.y - from.y) * i) / steps;
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y, id: 1 }] });
    await new Promise((r) => setTimeout(r, stepMs));
  }
  // Hold still before lifting: a drag, not a flick (no momentum), so distances can be compared.
  await new Promise((r) => setTimeout(r, 150));
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: to.x, y: to.y, id: 1 }] });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

async function screenBox(page: Page, id: string) {
  return (await page.locator(`.term-view[data-terminal="${id}"] .term-host`).boundingBox())!;
}

describe('terminals on a touch screen', () => {
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

  it('a vertical swipe scrolls the scrollback by the distance swiped, both ways; a flick keeps going', async () => {
    const { page, context, errors } = await openPage(browser, k.startUrl, PHONE_CONTEXT);
    try {
      const id = await newTerminal(page);
      await typeInTerminal(page, 'seq -f "row-%g" 1 400; echo END\n');
      await waitForLine(page, 'END');
      await waitFor(async () => {
        const s = await scrollState(page);
        return s.baseY > 300 && s.viewportY === s.baseY ? s : undefined;
      }, 'the view at the bottom of a long scrollback');
      const cdp = await context.newCDPSession(page);
      const box = await screenBox(page, id);
      const rowPx = await page.evaluate((i) => {
        const el = document.querySelector(`.term-view[data-terminal="${i}"] .xterm-screen`)!;
        const rows = Number(/×(\d+)/.exec(document.querySelector(`.term-view[data-terminal="${i}"] .size`)?.textContent ?? '')?.[1]);
        return el.getBoundingClientRect().height / rows;
      }, id);
      const x = box.x + box.width / 2;
      const start = await scrollState(page);

      // Finger down the screen: older lines come into view, one row per row height travelled.
      await swipe(cdp, { x, y: box.y + 100 }, { x, y: box.y + 400 });
      const up = await waitFor(async () => {
        const s = await scrollState(page);
        return s.viewportY < start.viewportY ? s : undefined;
      }, 'the scrollback to move');
      const moved = start.viewportY - up.viewportY;
      const expected = Math.floor(300 / rowPx);
      assert.ok(Math.abs(moved - expected) <= 1, `scrolled ${moved} rows for 300 px at ${rowPx.toFixed(1)} px a row (expected ~${expected})`);
      await waitFor(async () => (await page.locator(`.term-view[data-terminal="${id}"] .xterm-rows`).textContent())?.includes(`row-${up.viewportY + 1}`) || undefined, 'the older rows rendered');
      await screenshot(page, 'terminal-touch-scrolled');

      // Finger up: back towards the newest lines.
      await swipe(cdp, { x, y: box.y + 400 }, { x, y: box.y + 250 });
      await waitFor(async () => (await scrollState(page)).viewportY > up.viewportY, 'the scrollback to move back');

      // A quick flick scrolls further than the finger went (momentum), and stops at the top at most.
      const beforeFlick = (await scrollState(page)).viewportY;
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y: box.y + 100, id: 1 }] });
      for (let i = 1; i <= 4; i++) {
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y: box.y + 100 + i * 40, id: 1 }] });
        await new Promise((r) => setTimeout(r, 10));
      }
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      await new Promise((r) => setTimeout(r, 1_500));
      const afterFlick = (await scrollState(page)).viewportY;
      assert.ok(beforeFlick - afterFlick > Math.floor(160 / rowPx) + 1, `the flick carried on (${beforeFlick - afterFlick} rows for 160 px)`);
      assert.ok(afterFlick >= 0);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('in the alternate screen a swipe reaches the program as wheel steps (less scrolls)', async () => {
    const { page, context } = await openPage(browser, k.startUrl, PHONE_CONTEXT);
    try {
      const id = await newTerminal(page);
      await typeInTerminal(page, 'seq -f "page-%g" 1 300 | less\n');
      await waitFor(async () => (await scrollState(page)).type === 'alternate' || undefined, 'less in the alternate screen');
      await waitForLine(page, 'page-1');
      const cdp = await context.newCDPSession(page);
      const box = await screenBox(page, id);
      // Finger up the screen: towards later lines, as less moves on a wheel (arrow keys: xterm.js's choice without mouse tracking).
      await swipe(cdp, { x: box.x + box.width / 2, y: box.y + 400 }, { x: box.x + box.width / 2, y: box.y + 100 });
      await waitFor(async () => {
        const first = await page.evaluate((i) => (document.querySelector(`.term-view[data-terminal="${i}"] .xterm-rows > div`)?.textContent ?? '').trim(), id);
        return first !== 'page-1' && /^page-\d+$/.test(first) ? first : undefined;
      }, 'less to show later lines');
      await page.keyboard.press('q');
    } finally {
      await context.close();
    }
  });

  it('a terminal sized wider by another device: a sideways swipe pans it, an upward one still scrolls', async () => {
    const desk = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    let phone: Awaited<ReturnType<typeof openPage>> | undefined;
    try {
      const id = await newTerminal(desk.page);
      await typeInTerminal(desk.page, 'seq -f "wide-%g" 1 200; echo WIDE-END\n');
      await waitForLine(desk.page, 'WIDE-END');
      phone = await openPage(browser, k.startUrl, PHONE_CONTEXT);
      const page = phone.page;
      await page.evaluate((i) => (location.hash = `#/terminals/${i}`), id);
      await waitFor(async () => (await tabs(page)).find((t) => t.active)?.id === id, 'the wide tab active on the phone');
      await waitForState(page, 'live');
      await waitFor(async () => (await page.locator(`.term-view[data-terminal="${id}"] .term-host.panned`).count()) === 1, 'the phone to pan the wide terminal');
      const cdp = await phone.context.newCDPSession(page);
      const box = await screenBox(page, id);
      const y = box.y + box.height / 2;
      const host = () => page.evaluate((i) => document.querySelector<HTMLElement>(`.term-view[data-terminal="${i}"] .term-host`)!.scrollLeft, id);
      const before = await scrollState(page, id);
      await swipe(cdp, { x: box.x + box.width - 40, y }, { x: box.x + 40, y });
      await waitFor(async () => (await host()) > 100 || undefined, 'the host to pan sideways');
      assert.equal((await scrollState(page, id)).viewportY, before.viewportY, 'a sideways swipe does not scroll the scrollback');
      await swipe(cdp, { x: box.x + box.width / 2, y: box.y + 80 }, { x: box.x + box.width / 2, y: box.y + 280 });
      await waitFor(async () => (await scrollState(page, id)).viewportY < before.viewportY || undefined, 'the scrollback to scroll on the panned terminal');
      await screenshot(page, 'terminal-touch-panned');
    } finally {
      await phone?.context.close();
      await desk.context.close();
    }
  });

  it('the tab close button is at least 40 px on touch, and the Chat and Agent buttons look different', async () => {
    const { page, context } = await openPage(browser, k.startUrl, PHONE_CONTEXT);
    try {
      await waitFor(async () => (await tabs(page)).length >= 1, 'the tabs');
      const close = (await page.locator('.tab.active .tab-close').boundingBox())!;
      assert.ok(close.width >= 40 && close.height >= 40, `close target ${close.width}×${close.height}`);
      // What a phone shows of the two buttons: their icons (labels are hidden at this width).
      const chat = await page.locator('.nav-item[data-nav="chat"]').evaluate((el) => ({ icon: el.querySelector('svg')?.outerHTML, label: (el as HTMLElement).innerText.trim(), name: el.getAttribute('aria-label') }));
      const agent = await page.locator('[data-testid=agent-toggle]').evaluate((el) => ({ icon: el.querySelector('svg')?.outerHTML, label: (el as HTMLElement).innerText.trim(), name: el.getAttribute('aria-label') }));
      assert.notEqual(agent.icon, chat.icon, 'different icons');
      assert.notEqual(agent.name, chat.name, 'different accessible names');
      assert.equal(await page.locator('[data-testid=agent-toggle]').isVisible(), true);
      await screenshot(page, 'terminal-touch-header');
    } finally {
      await context.close();
    }
  });
});

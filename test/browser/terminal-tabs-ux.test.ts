/**
 * Issue 11.11 in Chromium, real shells: closing a tab whose shell runs a program asks first, in an
 * in-page dialog (labelled, focus kept inside, Escape cancels, focus returns), an idle shell closes
 * at once; and a page left open across a Keel restart finds its terminal gone and offers the
 * previous run's tabs without a reload.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, launchBrowser, newTerminal, openPage, startKeel, tabs, tmpDataDir, typeInTerminal, waitFor, waitForLine, waitForState, type BrowserKeel } from './harness.ts';

async function serverTerminals(k: BrowserKeel): Promise<{ id: string; foreground: string | null }[]> {
  return ((await (await fetch(`${k.url}/api/terminals`, { headers: { authorization: `Bearer ${k.keel.ctx.auth.token}` } })).json()) as { terminals: { id: string; foreground: string | null }[] }).terminals;
}

const activeTag = (page: Page) => page.evaluate(() => {
  const a = document.activeElement as HTMLElement | null;
  return a ? `${a.tagName.toLowerCase()}${a.dataset.testid ? `[${a.dataset.testid}]` : ''}${a.closest('dialog') ? ' in dialog' : ''}` : '';
});

describe('closing and restoring terminal tabs', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('asks before closing a tab that runs a program (an accessible in-page dialog); an idle one closes at once', async () => {
    const k = await startKeel();
    const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
    try {
      let nativeDialogs = 0;
      page.on('dialog', (d) => {
        nativeDialogs++;
        void d.dismiss();
      });
      const busy = await newTerminal(page);
      await typeInTerminal(page, 'sleep 600\n');
      await waitFor(async () => (await serverTerminals(k)).find((t) => t.id === busy)?.foreground === 'sleep', 'the server to see sleep running');

      await page.locator(`.tab[data-id="${busy}"] .tab-close`).click();
      const dlg = page.locator('dialog[data-testid=close-dialog]');
      await dlg.waitFor({ state: 'visible' });
      // Labelled by its title, described by its message, which names the program.
      const labels = await dlg.evaluate((d) => ({ title: document.getElementById(d.getAttribute('aria-labelledby')!)?.textContent, desc: document.getElementById(d.getAttribute('aria-describedby')!)?.textContent }));
      assert.equal(labels.title, 'Close this terminal?');
      assert.match(labels.desc ?? '', /sleep is still running/);
      assert.equal(await activeTag(page), 'button[dialog-confirm] in dialog', 'the confirming button has the focus');
      // Focus stays inside: Tab and Shift+Tab cycle through the dialog's buttons.
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Tab');
        assert.match(await activeTag(page), /in dialog$/, `Tab ${i + 1} stays in the dialog`);
      }
      await page.keyboard.press('Shift+Tab');
      assert.match(await activeTag(page), /in dialog$/);
      // Escape cancels: the tab and its program stay.
      await page.keyboard.press('Escape');
      await dlg.waitFor({ state: 'detached' });
      assert.equal((await tabs(page)).length, 1);
      assert.ok((await serverTerminals(k)).some((t) => t.id === busy), 'the terminal still runs');
      // Cancel does the same; confirming closes it.
      await page.locator(`.tab[data-id="${busy}"] .tab-close`).click();
      await dlg.locator('[data-testid=dialog-cancel]').click();
      await dlg.waitFor({ state: 'detached' });
      assert.equal((await tabs(page)).length, 1);
      await page.locator(`.tab[data-id="${busy}"] .tab-close`).click();
      await dlg.locator('[data-testid=dialog-confirm]').click();
      await waitFor(async () => (await tabs(page)).length === 0, 'the tab to close');
      await waitFor(async () => !(await serverTerminals(k)).some((t) => t.id === busy), 'the terminal and its sleep to end');

      // An idle shell: no question.
      const idle = await newTerminal(page);
      await page.locator(`.tab[data-id="${idle}"] .tab-close`).click();
      await waitFor(async () => (await tabs(page)).length === 0, 'the idle tab to close at once');
      assert.equal(await page.locator('dialog').count(), 0);
      assert.equal(nativeDialogs, 0, 'no confirm()/prompt() of the browser');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      await k.close();
    }
  });

  it('a page open across a Keel restart finds its terminal gone and offers the previous tabs, without a reload', async () => {
    const dataDir = tmpDataDir();
    let k2: BrowserKeel | undefined;
    try {
      const k1 = await startKeel({ dataDir });
      const port = new URL(k1.url).port;
      const { page, context, errors } = await openPage(browser, k1.startUrl, { viewport: DESKTOP });
      const old = await newTerminal(page);
      await typeInTerminal(page, 'echo before-restart\n');
      await waitForLine(page, 'before-restart');
      const loads: string[] = [];
      page.on('load', () => loads.push(page.url()));
      await k1.close();
      // The same address, the same data directory (and token): the restarted Keel.
      k2 = await startKeel({ dataDir, port: Number(port) });
      const banner = page.locator(`.term-view[data-terminal="${old}"] .banner`);
      await waitFor(async () => /no longer exists/.test((await banner.textContent()) ?? ''), 'the tab to find its terminal gone', 40_000);
      const offer = page.locator('.restore');
      await waitFor(() => offer.isVisible(), 'the offer of the previous tabs');
      assert.match((await offer.textContent()) ?? '', /1 tab was open when Keel last stopped/);
      await offer.locator('[data-testid=restore-yes]').click();
      await waitFor(async () => {
        const t = await tabs(page);
        return t.length === 1 && t[0]!.id !== old && t[0]!.active ? t : undefined;
      }, 'the reopened tab, in place of the dead one');
      await waitForState(page, 'live');
      await typeInTerminal(page, 'echo restored-$((20+1))\n');
      await waitForLine(page, 'restored-21');
      assert.deepEqual(loads, [], 'no reload');
      assert.equal(await offer.isVisible(), false);
      assert.deepEqual(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e)), []);
      await context.close();
    } finally {
      await k2?.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

#!/usr/bin/env node
/**
 * Makes the README's screenshots (docs/screenshots/*.png): a real Keel on port 0, Debian's Chromium,
 * a desktop (1280×800) and a phone (390×844) page with terminals and the Health page.
 *
 *   node scripts/screenshots.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { DESKTOP, PHONE_CONTEXT, ROOT, launchBrowser, openPage, startKeel, tabs, typeInTerminal, waitFor, waitForLine, waitForState } from '../test/browser/harness.ts';

const OUT = path.join(ROOT, 'docs', 'screenshots');

async function newTab(page: Page, name?: string): Promise<void> {
  const n = (await tabs(page)).length;
  const empty = page.locator('.empty .btn-primary');
  if (await empty.isVisible()) await empty.click();
  else await page.locator('[data-testid="new-terminal"]').click();
  await waitFor(async () => (await tabs(page)).length === n + 1, 'a new tab');
  await waitForState(page, 'live');
  if (name) {
    const id = (await tabs(page)).find((t) => t.active)!.id;
    await page.locator(`.tab[data-id="${id}"] .tab-label`).dblclick();
    await page.locator('input.tab-rename').fill(name);
    await page.locator('input.tab-rename').press('Enter');
    await waitFor(async () => (await tabs(page)).find((t) => t.active)?.name === name, 'rename');
  }
}

const DEMO =
  "clear; printf '\\033[1;34mKeel\\033[0m: your terminals, anywhere. \\033[32m● live\\033[0m\\n\\n'; " +
  "ls --color=always /usr; echo; printf '\\033[33mbuild\\033[0m  \\033[32mok\\033[0m  12 files\\n\\033[33mtest \\033[0m  \\033[32mok\\033[0m  128 passed\\n'; echo done\n";

const k = await startKeel({ healthSampleMs: 500 });
const browser = await launchBrowser();
try {
  fs.mkdirSync(OUT, { recursive: true });
  const d = await openPage(browser, k.startUrl, { viewport: DESKTOP });
  await newTab(d.page, 'server');
  await typeInTerminal(d.page, 'echo serving\n');
  await newTab(d.page, 'build');
  await typeInTerminal(d.page, DEMO);
  await waitForLine(d.page, 'done');
  await d.page.screenshot({ path: path.join(OUT, 'desktop.png') });

  // The phone joins the same tab; it types, so the shared size becomes the phone's (last resize wins).
  const buildId = (await tabs(d.page)).find((t) => t.active)!.id;
  const p = await openPage(browser, k.startUrl, PHONE_CONTEXT);
  await p.page.goto(`${k.url}/#/terminals/${buildId}`);
  await waitFor(async () => (await tabs(p.page)).find((t) => t.active)?.id === buildId, 'the build tab on the phone');
  await waitForState(p.page, 'live');
  await typeInTerminal(p.page, DEMO.replace('echo done', 'echo ready'));
  await waitForLine(p.page, 'ready');
  await p.page.screenshot({ path: path.join(OUT, 'phone.png') });

  // Let the health history fill a little so the plot has a shape.
  await d.page.goto(k.url + '/#/health');
  await waitFor(async () => (await d.page.locator('[data-testid="feed-mode"]').textContent()) === 'live', 'live health feed');
  await waitFor(async () => ((await d.page.locator('polyline.series-rss').getAttribute('points'))?.split(' ').length ?? 0) >= 12, 'a dozen samples');
  await d.page.screenshot({ path: path.join(OUT, 'health-desktop.png') });
  await p.page.goto(k.url + '/#/health');
  await waitFor(async () => /MB$/.test((await p.page.locator('[data-testid="rss"]').textContent()) ?? ''), 'phone health numbers');
  await waitFor(async () => (await p.page.locator('polyline.series-rss').getAttribute('points'))?.includes(' '), 'phone plot');
  await p.page.screenshot({ path: path.join(OUT, 'health-phone.png') });
  for (const f of fs.readdirSync(OUT)) console.log(path.join('docs/screenshots', f));
} finally {
  await browser.close();
  await k.close();
}

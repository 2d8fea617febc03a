#!/usr/bin/env node
/**
 * Makes the README's screenshots (docs/screenshots/*.png): a real Keel on port 0 whose agent talks
 * to the fake OpenAI-compatible model (test/fake-model), Debian's Chromium, a desktop (1280×800)
 * and a phone (390×844, touch) page: terminals, the agent pane, the chat, a shared document and
 * the Health page.
 *
 *   node scripts/screenshots.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { FakeModel } from '../test/fake-model/server.ts';
import { DESKTOP, PHONE_CONTEXT, ROOT, launchBrowser, openPage, startKeel, tabs, typeInTerminal, waitFor, waitForLine, waitForState } from '../test/browser/harness.ts';

const OUT = path.join(ROOT, 'docs', 'screenshots');

async function newTab(page: Page, name?: string): Promise<string> {
  const n = (await tabs(page)).length;
  const empty = page.locator('.empty .btn-primary');
  if (await empty.isVisible()) await empty.click();
  else await page.locator('[data-testid="new-terminal"]').click();
  await waitFor(async () => (await tabs(page)).length === n + 1, 'a new tab');
  await waitForState(page, 'live');
  const id = (await tabs(page)).find((t) => t.active)!.id;
  if (name) {
    await page.locator(`.tab[data-id="${id}"] .tab-label`).dblclick();
    await page.locator('input.tab-rename').fill(name);
    await page.locator('input.tab-rename').press('Enter');
    await waitFor(async () => (await tabs(page)).find((t) => t.active)?.name === name, 'rename');
  }
  return id;
}

async function shot(page: Page, name: string): Promise<void> {
  // Let the last frame paint (xterm renders on the next animation frame).
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
}

const DEMO =
  "clear; printf '\\033[1;34mKeel\\033[0m: your terminals, anywhere. \\033[32m● live\\033[0m\\n\\n'; " +
  "ls --color=always /usr; echo; printf '\\033[33mbuild\\033[0m  \\033[32mok\\033[0m  12 files\\n\\033[33mtest \\033[0m  \\033[32mok\\033[0m  128 passed\\n'; echo done\n";

const DOC = `# Release plan

Ship **Keel 0.2** once the soak run is green.

- [x] terminals survive a restart
- [ ] phone: swipe to scroll
- [ ] \`npm test\` on a quiet machine

> Flat memory is the feature.

See [the design notes](https://example.com/design) before merging.
`;

const model = await FakeModel.start();
const k = await startKeel({ healthSampleMs: 500, agentProvider: 'openai-compatible', agentBaseUrl: model.baseUrl, agentModel: 'fake-1', agentApiKey: 'k' });
const browser = await launchBrowser();
try {
  fs.mkdirSync(OUT, { recursive: true });
  const d = await openPage(browser, k.startUrl, { viewport: DESKTOP });
  await newTab(d.page, 'server');
  await typeInTerminal(d.page, 'echo serving\n');
  const buildId = await newTab(d.page, 'build');
  await typeInTerminal(d.page, DEMO);
  await waitForLine(d.page, 'done');
  await shot(d.page, 'desktop');

  // The phone joins the same tab and types, so the size follows the phone (the desktop shows it scaled).
  const p = await openPage(browser, k.startUrl, PHONE_CONTEXT);
  await p.page.evaluate((id) => (location.hash = `#/terminals/${id}`), buildId);
  await waitFor(async () => (await tabs(p.page)).find((t) => t.active)?.id === buildId, 'the build tab on the phone');
  await waitForState(p.page, 'live');
  await typeInTerminal(p.page, DEMO.replace('echo done', 'echo ready'));
  await waitForLine(p.page, 'ready');
  await shot(p.page, 'phone');

  // The agent beside the terminals: it types into the visible terminal while its answer streams.
  await d.page.locator('.tab', { hasText: 'server' }).click();
  const serverId = (await tabs(d.page)).find((t) => t.active)!.id;
  model.enqueue(
    { toolCalls: [{ name: 'terminal_write', args: { terminalId: serverId, text: 'df -h / | tail -1', keys: ['Enter'] } }] },
    { toolCalls: [{ name: 'terminal_read', args: { terminalId: serverId } }] },
    { text: 'The root filesystem is shown above: **size, used and available space**. Nothing is close to full, so the build can go ahead.', chunks: 10, delayMs: 30 },
  );
  await d.page.locator('[data-testid=agent-toggle]').click();
  const pane = d.page.locator('[data-testid=agent-pane]');
  await pane.locator('[data-testid=chat-input]').waitFor({ state: 'visible' });
  await pane.locator('[data-testid=chat-input]').fill('How much disk is left on /?');
  await pane.locator('[data-testid=chat-send]').click();
  await waitFor(async () => (await pane.locator('.msg-assistant').textContent())?.includes('go ahead') && !(await pane.locator('[data-testid=chat-cancel]').isVisible()), 'the answer');
  await shot(d.page, 'agent-pane');

  await p.page.locator('[data-testid=agent-toggle]').click();
  await p.page.locator('[data-testid=agent-pane] [data-testid=chat-input]').waitFor({ state: 'visible' });
  await waitFor(async () => (await p.page.locator('[data-testid=agent-pane] .msg-assistant').count()) > 0, 'the conversation on the phone');
  await shot(p.page, 'agent-pane-phone');
  await p.page.locator('[data-testid=agent-pane-close]').click();

  await d.page.locator('[data-testid=agent-pane-close]').click();
  await d.page.evaluate(() => (location.hash = '#/chat'));
  await d.page.locator('.page-chat [data-testid=chat-input]').waitFor({ state: 'visible' });
  await shot(d.page, 'chat');

  // A shared document, two people in it.
  const token = new URL(k.startUrl).searchParams.get('token')!;
  const res = await fetch(`${k.url}/api/docs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', origin: k.url }, body: JSON.stringify({ title: 'Release plan' }) });
  const docId = ((await res.json()) as { id: string }).id;
  const bob = await browser.newContext({ viewport: DESKTOP });
  await bob.addInitScript(() => localStorage.setItem('keel.name', 'Bob'));
  const bp = await bob.newPage();
  await bp.goto(k.startUrl);
  await d.page.evaluate(() => localStorage.setItem('keel.name', 'Ada'));
  await d.page.reload();
  for (const page of [d.page, bp]) {
    await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);
    await page.evaluate((id) => (location.hash = `#/docs/${id}`), docId);
    await waitFor(() => page.evaluate(() => (window as unknown as { __keel: { doc(): { connection?: string } } }).__keel.doc().connection === 'live'), 'the editor live');
  }
  await d.page.locator('.doc-editor .cm-content').click();
  await d.page.keyboard.insertText(DOC);
  await bp.locator('.cm-line', { hasText: 'swipe to scroll' }).click();
  await waitFor(async () => (await d.page.locator('.cm-ySelectionInfo', { hasText: 'Bob' }).count()) > 0, 'Bob’s cursor');
  await shot(d.page, 'documents');
  await bob.close();

  // Let the health history fill a little so the plot has a shape.
  await d.page.evaluate(() => (location.hash = '#/health'));
  await waitFor(async () => (await d.page.locator('[data-testid="feed-mode"]').textContent()) === 'live', 'live health feed');
  await waitFor(async () => ((await d.page.locator('polyline.series-rss').getAttribute('points'))?.split(' ').length ?? 0) >= 12, 'a dozen samples');
  await shot(d.page, 'health-desktop');
  await p.page.evaluate(() => (location.hash = '#/health'));
  await waitFor(async () => /MB$/.test((await p.page.locator('[data-testid="rss"]').textContent()) ?? ''), 'phone health numbers');
  await waitFor(async () => (await p.page.locator('polyline.series-rss').getAttribute('points'))?.includes(' '), 'phone plot');
  await shot(p.page, 'health-phone');
  for (const f of fs.readdirSync(OUT)) console.log(path.join('docs/screenshots', f));
} finally {
  await browser.close();
  await k.close();
  await model.close();
}

/**
 * Issue 11.12 in Chromium against a real Keel started without a model: the Chat page and the agent
 * pane say so before any prompt (from GET /api/agent), with the server's help formatted once;
 * nothing can be sent and no chat is created; a prompt the server refuses anyway (the page thought
 * a model was there) leaves no empty chat behind and leaves the box, so it cannot ride along with
 * the next one; Rename and Delete are disabled with no chat open; both are in-page dialogs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, launchBrowser, openPage, PHONE_CONTEXT, screenshot, startKeel, waitFor, type BrowserKeel } from './harness.ts';

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

const auth = () => ({ authorization: `Bearer ${k.keel.ctx.auth.token}` });
async function sessions(): Promise<{ id: string; title: string }[]> {
  return ((await (await fetch(`${k.url}/api/chat/sessions`, { headers: auth() })).json()) as { sessions: { id: string; title: string }[] }).sessions;
}

/** Records the page's chat API calls (method + path). */
function recordCalls(page: Page): string[] {
  const calls: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/chat') || u.pathname === '/api/agent') calls.push(`${r.method()} ${u.pathname}`);
  });
  return calls;
}

test('the server says whether a model is configured, and what to set', async () => {
  const r = await fetch(`${k.url}/api/agent`, { headers: auth() });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { configured: boolean; model: string | null; help: string };
  assert.equal(body.configured, false);
  assert.equal(body.model, null);
  assert.match(body.help, /--agent-provider/);
  assert.equal((await fetch(`${k.url}/api/agent`)).status, 401, 'owner only');
});

test('before the first prompt the Chat page says no model is configured, formatted once, and nothing can be sent', async () => {
  const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
  const calls = recordCalls(page);
  try {
    await page.evaluate(() => (location.hash = '#/chat'));
    const banner = page.locator('[data-testid=chat-not-configured]');
    await banner.waitFor({ state: 'visible' });
    assert.match((await banner.textContent())!, /No model is configured for the agent/);
    // The server's help as formatted text: its alternatives a list, options and variables as code.
    assert.ok((await banner.locator('.agent-help li').count()) >= 2, 'the alternatives as a list');
    const codes = await banner.locator('.agent-help code').allTextContents();
    assert.ok(codes.some((c) => c.startsWith('--agent-provider openai-compatible')), `options as code: ${codes.join(' | ')}`);
    assert.ok(codes.includes('ANTHROPIC_API_KEY'), 'variables as code');
    // Once: one banner, the help's first sentence once on the page.
    assert.equal(await page.locator('[data-testid=chat-not-configured]:visible').count(), 1);
    const text = await page.locator('.page-chat').innerText();
    assert.equal(text.split('Start Keel with one of').length - 1, 1, 'the help appears once');
    assert.equal(await page.locator('[data-testid=chat-input]').isDisabled(), true, 'the composer is off');
    assert.equal(await page.locator('[data-testid=chat-send]').isDisabled(), true);
    // No chat open: nothing to rename or delete.
    assert.equal(await page.locator('[data-testid=chat-rename]').isDisabled(), true);
    assert.equal(await page.locator('[data-testid=chat-delete]').isDisabled(), true);
    // Ctrl+Enter in the (disabled) box does nothing either.
    await page.locator('[data-testid=chat-input]').press('Control+Enter').catch(() => {});
    await screenshot(page, 'chat-no-model');
    assert.deepEqual(calls.filter((c) => c.startsWith('POST')), [], 'nothing was posted');
    assert.equal((await sessions()).length, 0, 'no chat was created');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the agent pane says it too, and the Agent button shows it before it is opened (phone)', async () => {
  const { page, context } = await openPage(browser, k.startUrl, PHONE_CONTEXT);
  try {
    const toggle = page.locator('[data-testid=agent-toggle]');
    await waitFor(async () => (await toggle.getAttribute('class'))?.includes('no-model'), 'the Agent button to mark "no model"');
    assert.match((await toggle.getAttribute('title')) ?? '', /no AI model is configured/);
    await toggle.click();
    const pane = page.locator('[data-testid=agent-pane]');
    await pane.locator('[data-testid=chat-not-configured]').waitFor({ state: 'visible' });
    assert.equal(await pane.locator('[data-testid=chat-input]').isDisabled(), true);
    await screenshot(page, 'agent-pane-no-model-phone');
    assert.equal((await sessions()).length, 0);
  } finally {
    await context.close();
  }
});

test('a prompt refused for want of a model leaves no empty chat and leaves the box', async () => {
  const { page, context, errors } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
  try {
    // The page believes a model is there (as one that loaded before a restart without one would); later asks get the truth.
    await page.route('**/api/agent', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ configured: true, model: 'gone:model', help: '' }) }), { times: 1 });
    await page.evaluate(() => (location.hash = '#/chat'));
    const input = page.locator('[data-testid=chat-input]');
    await waitFor(async () => (await input.isVisible()) && !(await input.isDisabled()), 'the composer on');
    await input.fill('hello, refused?');
    await page.locator('[data-testid=chat-send]').click();
    const banner = page.locator('[data-testid=chat-not-configured]');
    await banner.waitFor({ state: 'visible' });
    assert.match((await banner.textContent())!, /No model is configured for the agent[\s\S]*--agent-provider/);
    await waitFor(async () => (await sessions()).length === 0, 'the chat made for the prompt to be gone again');
    assert.equal(await input.inputValue(), '', 'the refused prompt left the box (it would ride along with the next one)');
    assert.match((await page.locator('[data-testid=chat-error]').textContent()) ?? '', /Not sent: “hello, refused\?”/);
    assert.equal(await input.isDisabled(), true, 'and the composer is off now');
    assert.equal(await page.locator('[data-testid=chat-delete]').isDisabled(), true, 'no chat open');
    assert.equal(await page.locator('.chat-item').count(), 0, 'no empty chat in the list');
    assert.deepEqual(errors.filter((e) => !/503/.test(e)), []);
  } finally {
    await context.close();
  }
});

test('Rename and Delete are in-page dialogs (Escape cancels); no browser prompt() or confirm()', async () => {
  const created = (await (await fetch(`${k.url}/api/chat/sessions`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: k.url }, body: JSON.stringify({ title: 'Old name' }) })).json()) as { id: string };
  const { page, context } = await openPage(browser, k.startUrl, { viewport: DESKTOP });
  let native = 0;
  page.on('dialog', (d) => {
    native++;
    void d.dismiss();
  });
  try {
    await page.evaluate((id) => (location.hash = `#/chat/${id}`), created.id);
    await waitFor(async () => (await page.locator('[data-testid=chat-title]').textContent()) === 'Old name', 'the chat open');
    assert.equal(await page.locator('[data-testid=chat-rename]').isDisabled(), false);
    await page.locator('[data-testid=chat-rename]').click();
    const rename = page.locator('dialog[data-testid=rename-dialog]');
    await rename.waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement).value), 'Old name', 'the field has the name, focused');
    await page.keyboard.press('Escape');
    await rename.waitFor({ state: 'detached' });
    assert.equal((await sessions())[0]!.title, 'Old name', 'Escape renames nothing');
    await page.locator('[data-testid=chat-rename]').click();
    await page.locator('[data-testid=dialog-input]').fill('New name');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await sessions())[0]?.title === 'New name', 'the rename on the server');
    await page.locator('[data-testid=chat-delete]').click();
    const del = page.locator('dialog[data-testid=delete-dialog]');
    await del.waitFor({ state: 'visible' });
    assert.match((await del.textContent()) ?? '', /New name/);
    await del.locator('[data-testid=dialog-confirm]').click();
    await waitFor(async () => (await sessions()).length === 0, 'the chat deleted');
    await waitFor(async () => await page.locator('[data-testid=chat-delete]').isDisabled(), 'Delete off with no chat open');
    assert.equal(native, 0);
  } finally {
    await context.close();
  }
});

/**
 * Chat UI against a real Keel whose agent talks to the fake OpenAI-compatible model server:
 * a prompt streams an answer after a tool call, a reload shows the same conversation (and creates
 * no session), model output cannot inject HTML or script (an agent without a model:
 * chat-no-model.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { agentFixture, chatSnap } from './agent-fixture.ts';
import { openPage, PHONE_CONTEXT, screenshot, waitFor } from './harness.ts';

const fx = agentFixture();
/**
 * Under Keel's Content-Security-Policy, Chromium reports (and blocks) the inline handlers of hostile
 * model output while DOMPurify parses it in an inert document — a known false alarm
 * (cure53/DOMPurify#107): nothing runs, and the sanitized result has no handler left.
 */
const blockedHostileHandler = (e: string) => /Executing inline event handler violates the following Content Security Policy directive 'script-src 'self''/.test(e);
const snap = async (page: Page) => (await chatSnap(page))!;

async function gotoChat(page: Page): Promise<void> {
  await page.evaluate(() => (location.hash = '#/chat'));
  await page.locator('[data-testid=chat-input]').waitFor({ state: 'visible' });
}

async function sessions(): Promise<{ id: string; title: string }[]> {
  const res = await fetch(`${fx.k.url}/api/chat/sessions`, { headers: { authorization: `Bearer ${new URL(fx.k.startUrl).searchParams.get('token')}` } });
  return ((await res.json()) as { sessions: { id: string; title: string }[] }).sessions;
}

test('a prompt streams a tool call and a Markdown answer; a reload shows the same conversation', async () => {
  fx.model.enqueue({ toolCalls: [{ name: 'terminal_list', args: {} }] }, { text: 'There are **no terminals** yet. Shall I `open` one?', chunks: 12, delayMs: 20 });
  const { page, context, errors } = await openPage(fx.browser, fx.k.startUrl);
  try {
    await gotoChat(page);
    assert.equal((await sessions()).length, 0, 'opening the page created no session');
    await page.locator('[data-testid=chat-input]').fill('list my terminals');
    await page.locator('[data-testid=chat-send]').click();

    await waitFor(async () => {
      const s = await snap(page);
      return s.messages.some((m) => m.kind === 'assistant' && m.text.includes('There are no terminals yet. Shall I open one?')) && !s.busy ? s : undefined;
    }, 'the streamed answer and the turn to end');
    const s = await snap(page);
    assert.deepEqual(
      s.messages.map((m) => m.kind),
      ['user', 'tool', 'assistant'],
    );
    assert.match(s.messages[0]!.text, /list my terminals/);
    assert.match(s.messages[1]!.text, /terminal_list/);
    // Markdown rendered: bold and inline code are elements, not asterisks.
    assert.equal(await page.locator('.msg-assistant .md strong').textContent(), 'no terminals');
    assert.equal(await page.locator('.msg-assistant .md code').textContent(), 'open');
    // The tool call is collapsible and holds its result.
    const tool = page.locator('.msg-tool details');
    assert.equal(await tool.evaluate((d) => (d as HTMLDetailsElement).open), false);
    await tool.locator('summary').click();
    await waitFor(() => page.locator('.msg-tool .tool-result').isVisible(), 'the tool result to show when expanded');
    assert.equal(await page.locator('[data-testid=chat-cancel]').isHidden(), true, 'no cancel button once the turn ended');
    await screenshot(page, 'chat-desktop');

    const id = s.active!;
    assert.equal((await sessions()).length, 1);
    assert.equal(await page.evaluate(() => localStorage.getItem('keel.chat.lastSession')), id);

    // Reload at the bare address: the same session comes back, with the same messages, and no new one.
    await page.goto(`${fx.k.url}/#/chat`);
    await waitFor(async () => {
      const r = await chatSnap(page).catch(() => undefined);
      return r && r.active === id && r.messages.length === 3 ? r : undefined;
    }, 'the same conversation after a reload');
    const again = await snap(page);
    assert.deepEqual(again.messages, s.messages);
    assert.equal((await sessions()).length, 1, 'a reload created no session');
    assert.equal(await page.locator('.msg-assistant .md strong').textContent(), 'no terminals');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('model output with HTML and script renders inert', async () => {
  const evil =
    'Here: <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> ' +
    '<a href="javascript:window.__pwned=3" id="evil">click</a> [md link](javascript:window.__pwned=4) ' +
    '<iframe src="javascript:window.__pwned=5"></iframe> ![img](http://127.0.0.1:1/x.png) <b onmouseover="window.__pwned=6">end-marker</b>';
  fx.model.enqueue({ text: evil });
  const { page, context, errors } = await openPage(fx.browser, fx.k.startUrl);
  try {
    await gotoChat(page);
    await page.locator('[data-testid=chat-new]').click();
    await waitFor(async () => (await sessions()).length === 2, 'a second session');
    const fresh = (await sessions())[0]!.id;
    await waitFor(async () => (await snap(page)).active === fresh, 'the new session to be open');
    await page.locator('[data-testid=chat-input]').fill('say something nasty');
    await page.locator('[data-testid=chat-send]').click();
    const requestsBefore = fx.model.requests.length;
    await waitFor(async () => ((await snap(page)).messages.some((m) => m.kind === 'assistant' && m.text.includes('end-marker')) && !(await snap(page)).busy) || undefined, 'the answer').catch(async (err) => {
      throw new Error(`${(err as Error).message}; chat: ${JSON.stringify(await snap(page))}; model requests ${requestsBefore} → ${fx.model.requests.length}, queue ${fx.model.pending}; sessions ${JSON.stringify(await sessions())}`);
    });
    const md = page.locator('.msg-assistant .md');
    for (const sel of ['img', 'script', 'iframe', '[onerror]', '[onmouseover]', 'a[href^="javascript"]']) {
      assert.equal(await md.locator(sel).count(), 0, `no ${sel} in the rendered answer`);
    }
    await page.locator('.msg-assistant .md b').hover();
    for (const a of await md.locator('a').all()) await a.click({ modifiers: [] }).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'no script ran');
    assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e) && !blockedHostileHandler(e)), []);
  } finally {
    await context.close();
  }
});

test('a turn the stream reports before the prompt\'s 202 arrives does not leave the chat busy', async () => {
  fx.model.enqueue({ text: 'quick-answer' });
  const { page, context, errors } = await openPage(fx.browser, fx.k.startUrl);
  try {
    await gotoChat(page);
    await page.locator('[data-testid=chat-new]').click();
    await waitFor(async () => ((await snap(page)).active && (await snap(page)).messages.length === 0) || undefined, 'a new empty chat');
    // Hold the 202 back until the whole turn has come over /stream: a fast model does exactly this.
    await page.route('**/api/chat/sessions/*/messages', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const response = await route.fetch();
      await waitFor(async () => ((await snap(page)).messages.some((m) => m.kind === 'assistant' && m.text.includes('quick-answer')) && !(await snap(page)).busy) || undefined, 'the turn over the stream first');
      await route.fulfill({ response });
    });
    await page.locator('[data-testid=chat-input]').fill('be quick');
    await page.locator('[data-testid=chat-send]').click();
    await waitFor(async () => (await page.locator('[data-testid=chat-input]').inputValue()) === '' || undefined, 'the 202 to be handled');
    assert.equal((await snap(page)).busy, false, 'not busy: the turn is over');
    assert.equal(await page.locator('[data-testid=chat-cancel]').isHidden(), true, 'no cancel button');
    // The page opened on the previous test's hostile conversation first.
    assert.deepEqual(errors.filter((e) => !blockedHostileHandler(e)), []);
  } finally {
    await context.close();
  }
});

test('phone: the chat list is a drawer; the layout fits 390 px', async () => {
  const { page, context } = await openPage(fx.browser, fx.k.startUrl, PHONE_CONTEXT);
  try {
    await gotoChat(page);
    await waitFor(async () => ((await snap(page)).messages.length > 0 ? true : undefined), 'the last conversation');
    assert.equal(await page.locator('.chat-side').isVisible() && (await page.locator('.chat-side').boundingBox())!.x >= 0, false, 'drawer closed');
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), true, 'no sideways scroll');
    await screenshot(page, 'chat-phone');
    await page.locator('[data-testid=chat-drawer]').click();
    await waitFor(async () => ((await page.locator('.chat-side').boundingBox())?.x ?? -1) >= 0, 'the drawer to open');
    assert.equal(await page.locator('.chat-item').count(), 3, 'the three chats of this file');
    await screenshot(page, 'chat-phone-drawer');
  } finally {
    await context.close();
  }
});

/**
 * Issue 10, point 7, in Chromium: the Content-Security-Policy Keel sends does not break the UI —
 * terminals (xterm.js over WebSockets), chat (Markdown), documents (CodeMirror + Yjs over
 * WebSockets) and the health page work with no `securitypolicyviolation` event and no console
 * error — while it does block injected inline script. And the Sign out button clears the cookie
 * and leaves the page signed out, with nothing left polling.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page, Route } from 'playwright-core';
import { WebSocket } from 'ws';
import { agentFixture, chatSnap } from './agent-fixture.ts';
import { DESKTOP, newTerminal, openPage, startKeel, typeInTerminal, waitFor, waitForLine } from './harness.ts';

const fx = agentFixture();

interface Violation {
  directive: string;
  blocked: string;
  sample: string;
}

/** Records every CSP violation the page reports, from before its first script runs. */
async function watchViolations(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: unknown[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample }));
  });
}
const violations = (page: Page) => page.evaluate(() => (window as unknown as { __csp: Violation[] }).__csp);

function token(): string {
  return new URL(fx.k.startUrl).searchParams.get('token')!;
}

test('terminals, chat, documents and health work under the CSP without a single violation; injected inline script is blocked', async () => {
  fx.model.enqueue({ text: 'Fine: **bold**, `code`, and a [link](https://example.com).', chunks: 4, delayMs: 10 });
  const created = await fetch(`${fx.k.url}/api/docs`, { method: 'POST', headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json', origin: fx.k.url }, body: JSON.stringify({ title: 'CSP notes' }) });
  assert.equal(created.status, 201);
  const docId = ((await created.json()) as { id: string }).id;

  const opened = await openPage(fx.browser, fx.k.startUrl);
  const p = opened.page;
  try {
    await watchViolations(p);
    const res = await p.reload({ waitUntil: 'domcontentloaded' });
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/, 'the page is served with the CSP');
    await p.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);

    // Terminals: xterm.js renders, the WebSocket (connect-src 'self') carries input and output.
    await newTerminal(p);
    await typeInTerminal(p, 'echo csp-$((6*7))\n');
    await waitForLine(p, 'csp-42');

    // Chat: a streamed Markdown answer.
    await p.evaluate(() => (location.hash = '#/chat'));
    await p.locator('[data-testid=chat-input]').fill('hello');
    await p.locator('[data-testid=chat-send]').click();
    await waitFor(async () => (await chatSnap(p))?.messages.some((m) => m.kind === 'assistant' && m.text.includes('Fine: bold')), 'the chat answer');
    assert.equal(await p.locator('.msg-assistant .md strong').first().textContent(), 'bold');

    // Documents: CodeMirror with the Yjs binding, live over its WebSocket.
    await p.evaluate((id) => (location.hash = `#/docs/${id}`), docId);
    await waitFor(() => p.evaluate(() => (window as unknown as { __keel: { doc(): { connection?: string } } }).__keel.doc().connection === 'live'), 'the document to be live');
    await p.locator('.doc-editor .cm-content').click();
    await p.keyboard.type('typed under a CSP');
    await waitFor(async () => (await p.locator('.doc-editor .cm-content').innerText()).includes('typed under a CSP'), 'the typed text in the editor');

    // Health: the dashboard and its live feed.
    await p.evaluate(() => (location.hash = '#/health'));
    await waitFor(() => p.evaluate(() => (window as unknown as { __keel: { health(): { samples: number } } }).__keel.health().samples > 0), 'health samples');

    assert.deepEqual(await violations(p), [], 'no CSP violation while using the UI');
    assert.deepEqual(opened.errors, [], 'no console error');

    // The policy is in force: script injected into the page does not run, and is reported.
    await p.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.__injected = 1">'));
    await waitFor(async () => (await violations(p)).length > 0, 'the injected inline handler to be reported');
    assert.equal(await p.evaluate(() => (window as unknown as { __injected?: number }).__injected), undefined, 'the inline handler did not run');
    assert.equal((await violations(p))[0]!.directive, 'script-src-attr');
  } finally {
    await opened.context.close();
  }
});

test('Sign out clears the cookie and the page shows the signed-out state; a reload stays signed out', async () => {
  const { page, context, errors } = await openPage(fx.browser, fx.k.startUrl);
  try {
    assert.equal((await context.cookies()).filter((c) => c.name === 'keel_auth').length, 1, 'signed in by the start URL');
    await page.locator('[data-testid=signout]').click();
    await page.locator('[data-testid=signed-out]').waitFor({ state: 'visible' });
    assert.match(await page.locator('[data-testid=signed-out] h1').textContent() ?? '', /signed out/i);
    assert.equal((await context.cookies()).filter((c) => c.name === 'keel_auth').length, 0, 'the cookie is gone');
    assert.equal(await page.locator('[data-testid=signout]').count(), 0, 'no Sign out button once signed out');
    assert.equal(await page.locator('.nav').count(), 0, 'navigation removed');

    const res = await page.reload({ waitUntil: 'domcontentloaded' });
    assert.equal(res?.status(), 401, 'the shell answers 401 without the cookie');
    await page.locator('[data-testid=signed-out]').waitFor({ state: 'visible' });
    assert.match(await page.locator('[data-testid=signed-out] h1').textContent() ?? '', /access token/);
    // Signed out, the page's calls and its health socket are refused (401); nothing else may fail.
    assert.deepEqual(errors.filter((e) => !/401|Authentication failed/.test(e)), []);
  } finally {
    await context.close();
  }
});

test('signed out while a health poll is under way, the page sends nothing more', async () => {
  // One live dashboard slot, taken: the page's health feed falls back to polling /debug/memory.
  const k = await startKeel({ maxLiveViewers: 1 });
  const token = new URL(k.startUrl).searchParams.get('token')!;
  const held = new WebSocket(`${k.url.replace(/^http/, 'ws')}/debug/live`, { headers: { authorization: `Bearer ${token}` } });
  await new Promise((resolve, reject) => held.once('open', resolve).once('error', reject));
  const context = await fx.browser.newContext({ viewport: DESKTOP });
  try {
    const page = await context.newPage();
    // The page's timers are fake, so "does it keep polling?" is asked without waiting minutes.
    await page.clock.install();
    const polls: Route[] = [];
    await page.route('**/debug/memory', (route) => void polls.push(route));
    await page.goto(k.startUrl);
    await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);
    // Two requests held: the first report, and the first poll once the live feed was refused.
    await waitFor(() => polls.length >= 2, 'a health poll under way');
    await page.locator('[data-testid=signout]').click();
    await page.locator('[data-testid=signed-out]').waitFor({ state: 'visible' });
    const later: string[] = [];
    page.on('request', (r) => later.push(r.url()));
    for (const r of polls.splice(0)) await r.continue();
    await page.unroute('**/debug/memory');
    await new Promise((r) => setTimeout(r, 300));
    await page.clock.runFor(120_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(later, [], 'two minutes of the page’s timers after signing out send nothing');
  } finally {
    await context.close();
    held.terminate();
    await k.close();
  }
});

/**
 * Issue 4, the agent beside the terminals: the Agent button opens the chat in a pane next to the
 * terminal tabs (a drawer on a phone); the agent (fake OpenAI-compatible model) types into the
 * terminal on screen while its tab is highlighted; the pane stays open across a reload and is the
 * same chat as the Chat page.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { agentFixture, chatSnap } from './agent-fixture.ts';
import { DESKTOP, hasHorizontalScroll, newTerminal, openPage, PHONE_CONTEXT, screenshot, tabs, waitFor, waitForLine } from './harness.ts';

const fx = agentFixture();
const snap = async (page: Page) => (await chatSnap(page))!;


const box = async (page: Page, sel: string) => (await page.locator(sel).boundingBox())!;

test('desktop: the chat opens beside the terminals; the agent types into the visible terminal, its tab highlighted; a reload keeps the pane', async () => {
  const { page, context, errors } = await openPage(fx.browser, fx.k.startUrl, { viewport: DESKTOP });
  try {
    const id = await newTerminal(page);
    const toggle = page.locator('[data-testid=agent-toggle]');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    const fullWidth = (await box(page, '.page-terminals')).width;
    await toggle.click();
    const pane = page.locator('[data-testid=agent-pane]');
    await pane.locator('[data-testid=chat-input]').waitFor({ state: 'visible' });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    // Beside, not over: the terminal gave up the pane's width and stays fully visible.
    const term = await box(page, '.page-terminals');
    const p = await box(page, '[data-testid=agent-pane]');
    assert.ok(term.width < fullWidth - 300, `terminal narrowed (${fullWidth} → ${term.width})`);
    assert.ok(Math.abs(term.x + term.width - p.x) <= 1, `pane starts where the terminal ends (${term.x + term.width} vs ${p.x})`);
    assert.equal(page.url().includes('#/chat'), false, 'still on the Terminals page');
    // The chat's own (closed) session drawer stays inside the pane, never over the terminal.
    const over = await page.evaluate(([x, y]) => !!document.elementFromPoint(x!, y!)?.closest('.chat-side'), [term.x + term.width - 40, term.y + 200]);
    assert.equal(over, false, 'nothing of the chat covers the terminal');

    // The agent types into the terminal on screen; its turn lasts while the answer streams slowly.
    fx.model.enqueue(
      { toolCalls: [{ name: 'terminal_write', args: { terminalId: id, text: 'echo pane-$((6*7))', keys: ['Enter'] } }] },
      { text: 'I ran it in your terminal: it printed pane-42.', chunks: 20, delayMs: 150 },
    );
    await pane.locator('[data-testid=chat-input]').fill('run echo in my terminal');
    await pane.locator('[data-testid=chat-send]').click();
    await waitForLine(page, 'pane-42');
    // While the turn runs, the terminal's tab says the agent is in it.
    const tabAfter = await waitFor(
      async () => {
        const s = await page.locator(`.tab[data-id="${id}"] .tab-label`).evaluate((el) => getComputedStyle(el, '::after').content);
        return s.includes('agent') ? s : undefined;
      },
      'the tab to be marked as the agent’s',
    );
    assert.match(tabAfter, /agent/);
    await waitFor(async () => {
      const s = await snap(page);
      return s && !s.busy && s.messages.some((m) => m.kind === 'assistant' && m.text.includes('printed pane-42')) ? s : undefined;
    }, 'the answer and the end of the turn');
    await screenshot(page, 'agent-pane-desktop');
    const before = (await snap(page));

    // A reload keeps the pane open with the same conversation.
    await page.reload();
    await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined);
    await page.locator('[data-testid=agent-pane] [data-testid=chat-input]').waitFor({ state: 'visible' });
    await waitFor(async () => {
      const s = await snap(page);
      return s && s.active === before.active && s.messages.length === before.messages.length ? s : undefined;
    }, 'the same conversation in the pane after a reload');

    // The Chat page is the same chat, moved; back on Terminals it returns to the pane.
    await page.evaluate(() => (location.hash = '#/chat'));
    await waitFor(async () => (await page.locator('.page-chat .chat-page').count()) === 1 && (await pane.isHidden()), 'the chat on its own page');
    assert.equal(await toggle.isHidden(), true, 'the Agent button belongs to the Terminals page');
    await page.evaluate((t) => (location.hash = `#/terminals/${encodeURIComponent(t)}`), id);
    await waitFor(async () => (await pane.locator('.chat-page').count()) === 1 && (await pane.isVisible()), 'the chat back in the pane');

    await page.locator('[data-testid=agent-pane-close]').click();
    await waitFor(async () => (await pane.isHidden()) && (await box(page, '.page-terminals')).width >= fullWidth - 1, 'the terminal to take the whole width again');
    assert.equal(await page.evaluate(() => localStorage.getItem('keel.agentPane')), '0');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('phone: the agent is a drawer over the terminal, closed by its button; nothing scrolls sideways', async () => {
  const { page, context, errors } = await openPage(fx.browser, fx.k.startUrl, PHONE_CONTEXT);
  try {
    await waitFor(async () => (await tabs(page)).length >= 1, 'the terminal tab from the first test');
    const vw = page.viewportSize()!.width;
    await page.locator('[data-testid=agent-toggle]').click();
    const pane = page.locator('[data-testid=agent-pane]');
    await pane.locator('[data-testid=chat-input]').waitFor({ state: 'visible' });
    const p = await box(page, '[data-testid=agent-pane]');
    assert.ok(p.x <= 1 && p.width >= vw - 1, `the drawer covers the width (${p.x}, ${p.width} of ${vw})`);
    // The terminal under it keeps its size (no reflow of the shell while the drawer is open).
    assert.ok((await box(page, '.page-terminals')).width >= vw - 1);
    // The chat inside is in its compact layout: the session list is its own drawer.
    assert.equal(await pane.locator('[data-testid=chat-drawer]').isVisible(), true);
    // History loaded from the server names the terminal the agent worked in, like a live event does.
    const tabName = (await tabs(page))[0]!.name;
    await waitFor(async () => (await pane.locator('a.term-chip').first().textContent())?.includes(tabName) || undefined, `the terminal chip to read "${tabName}"`);
    assert.equal(await hasHorizontalScroll(page), false);
    await screenshot(page, 'agent-pane-phone');
    await page.locator('[data-testid=agent-pane-close]').click();
    await waitFor(() => pane.isHidden(), 'the drawer to close');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

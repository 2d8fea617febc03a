/**
 * Shared by the browser tests of the chat and the agent pane: one Keel whose agent talks to the
 * fake OpenAI-compatible model server, one Chromium, registered as the file's before/after hooks;
 * and the page's chat state through its test hook.
 */
import { after, before } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { FakeModel } from '../fake-model/server.ts';
import { launchBrowser, startKeel, type BrowserKeel } from './harness.ts';

export interface AgentFixture {
  browser: Browser;
  model: FakeModel;
  k: BrowserKeel;
}

/** Starts the fake model, Keel and Chromium before the file's tests, and stops them after. */
export function agentFixture(): AgentFixture {
  const f = {} as AgentFixture;
  before(async () => {
    f.model = await FakeModel.start();
    f.k = await startKeel({ agentProvider: 'openai-compatible', agentBaseUrl: f.model.baseUrl, agentModel: 'fake-1', agentApiKey: 'k' });
    f.browser = await launchBrowser();
  });
  after(async () => {
    await f.browser?.close();
    await f.k?.close();
    await f.model?.close();
  });
  return f;
}

export interface ChatSnap {
  active?: string;
  busy: boolean;
  messages: { kind: string; text: string }[];
}

/** The chat's state (active session, busy, rendered messages); undefined before the chat is built. */
export function chatSnap(page: Page): Promise<ChatSnap | undefined> {
  return page.evaluate(() => (window as unknown as { __keel?: { chat(): ChatSnap | undefined } }).__keel?.chat());
}

/**
 * Leak scenario: one chat session per cycle, created, used and left to be evicted, all over HTTP:
 * create, prompt (the scripted agent answers with a whole turn), read messages, rename, export;
 * then the fake clock moves past the cache's idle time so the sessions of earlier cycles are evicted.
 * Every other session is deleted (with its events). Nothing is lost: the last cycle's session is
 * read back after eviction.
 */
import assert from 'node:assert/strict';
import { ScriptedAgent, scriptedAgentSubsystem } from '../../src/chat/test-agent.ts';
import { FakeClock } from '../../src/core/clock.ts';
import { connectionsInUse, request, startKeel, waitFor, type TestKeel } from '../helpers.ts';

const IDLE_MS = 10_000;
let k: TestKeel;
let clock: FakeClock;

async function call(method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { ...k.authHeaders };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return request(`${k.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

export async function setup(): Promise<void> {
  clock = new FakeClock();
  // Long health/sweep intervals: advancing the fake clock must not run thousands of other timers.
  k = await startKeel(
    { chatCacheIdleMs: IDLE_MS, chatCacheMaxEntries: 64, healthSampleMs: 600_000, eventLogSweepMs: 86_400_000 },
    { clock, subsystems: [scriptedAgentSubsystem(new ScriptedAgent())] },
  );
}

export async function cycle(i: number): Promise<void> {
  const created = await call('POST', '/api/chat/sessions', { title: `cycle ${i}` });
  if (created.status !== 201) assert.fail(`cycle ${i}: create answered ${created.status}: ${created.text}`);
  const id = created.json().id as string;
  const post = await call('POST', `/api/chat/sessions/${id}/messages`, { content: `prompt ${i}` });
  if (post.status !== 202) assert.fail(`cycle ${i}: prompt answered ${post.status}: ${post.text}`);
  const msgs = await call('GET', `/api/chat/sessions/${id}/messages`);
  if (msgs.json().messages.length !== 3) assert.fail(`cycle ${i}: expected 3 messages, got ${msgs.text.slice(0, 300)}`);
  if ((await call('PATCH', `/api/chat/sessions/${id}`, { title: `renamed ${i}` })).status !== 200) assert.fail(`cycle ${i}: rename failed`);
  const md = await call('GET', `/api/chat/sessions/${id}/export?format=md`);
  if (!md.text.includes(`answer to: prompt ${i}`)) assert.fail(`cycle ${i}: export lacks the answer`);
  if (i % 2 === 1 && (await call('DELETE', `/api/chat/sessions/${id}`)).status !== 204) assert.fail(`cycle ${i}: delete failed`);
  // Moves time past the idle TTL every 4 cycles: the cache's sweeper evicts the idle sessions.
  if (i % 4 === 3) clock.advance(IDLE_MS + 3_000);
}

export async function settle(): Promise<void> {
  clock.advance(IDLE_MS + 3_000);
  await waitFor(() => connectionsInUse(k, 'http_connections') === 0, 'HTTP connections back to 0');
}

export function measure(): Record<string, number> {
  const c = k.keel.ctx.observe.subsystems().chat as Record<string, number>;
  return { cache_entries: c.cache_entries!, owner_items: k.keel.ctx.owner.size };
}

export async function teardown(): Promise<void> {
  // Nothing was lost to eviction: the newest session is still there, from SQLite.
  const list = await call('GET', '/api/chat/sessions?limit=1');
  assert.match(list.json().sessions[0]?.title ?? '', /^renamed \d+$/);
  await k?.close();
}

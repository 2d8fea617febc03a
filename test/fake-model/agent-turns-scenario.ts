/**
 * Leak scenario for the agent: per cycle, a chat session is created, one agent turn runs in it
 * (rotating: a text answer; a tool turn typing into and reading a real terminal; a hung model
 * stream that is cancelled), and the session is deleted. Everything goes through HTTP and the real
 * AI SDK client against the fake model server.
 * params: none.
 */
import assert from 'node:assert/strict';
import type { AgentService } from '../../src/agent/agent.ts';
import { connectionsInUse, request, startKeel, waitFor, type TestKeel } from '../helpers.ts';
import { FakeModel } from './server.ts';

let k: TestKeel;
let model: FakeModel;
let tid = '';

const agent = () => k.keel.ctx.services.agent as AgentService;

async function api(method: string, path: string, body?: unknown) {
  const res = await request(k.url + path, {
    method,
    headers: { ...k.authHeaders, origin: k.url, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: res.text ? res.json() : undefined };
}

function ended(sessionId: string): boolean {
  return k.keel.ctx.services.eventLog!.read({ after: 0, sessionId, limit: 1_000 }).some((e) => e.payload.type === 'turn' && e.payload.state !== 'started');
}

export async function setup(): Promise<void> {
  model = await FakeModel.start();
  k = await startKeel({ agentProvider: 'openai-compatible', agentBaseUrl: model.baseUrl, agentModel: 'fake-1', agentApiKey: 'k', terminalShell: '/bin/sh', terminalScrollbackLines: 50 });
  tid = k.keel.ctx.services.terminals!.create({ cols: 80, rows: 24 }).id;
}

export async function cycle(i: number): Promise<void> {
  const s = await api('POST', '/api/chat/sessions', { title: `leak ${i}` });
  assert.equal(s.status, 201);
  const id = s.json.id as string;
  const kind = i % 3;
  const before = model.requests.length;
  if (kind === 0) model.enqueue({ text: `answer ${i} `.repeat(20) });
  else if (kind === 1) {
    model.enqueue(
      { toolCalls: [{ name: 'terminal_write', args: { terminalId: tid, text: `echo cycle-${i}`, keys: ['Enter'] } }] },
      { toolCalls: [{ name: 'terminal_read', args: { terminalId: tid, scrollbackLines: 10 } }] },
      { text: 'done' },
    );
  } else model.enqueue({ hang: true, text: 'thinking' });
  const r = await api('POST', `/api/chat/sessions/${id}/messages`, { content: `prompt ${i}` });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  if (kind === 2) {
    await model.waitForRequests(before + 1);
    await api('POST', `/api/chat/sessions/${id}/cancel`);
  }
  await waitFor(() => ended(id), `turn ${i} to end`, { intervalMs: 2 });
  await waitFor(() => !agent().isBusy(id), `session ${i} idle`, { intervalMs: 2 });
  assert.equal((await api('DELETE', `/api/chat/sessions/${id}`)).status, 204);
  // The fake model keeps every request; the test only needs the last few.
  model.requests.splice(0, model.requests.length);
}

export async function settle(): Promise<void> {
  await waitFor(() => agent().stats().busy_sessions === 0 && connectionsInUse(k, 'http_connections') === 0, 'agent idle and HTTP connections closed');
}

export function measure(): Record<string, number> {
  const st = agent().stats();
  return { busy_sessions: Number(st.busy_sessions), queued_prompts: Number(st.queued_prompts), owner_items: k.keel.ctx.owner.size };
}

export async function teardown(): Promise<void> {
  await k?.close();
  await model?.close();
}

// The agent in a real Keel: real terminals (PTY + mirror), the real event log, chat API and /stream,
// the real AI SDK client against the fake model server over HTTP.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AgentService } from '../src/agent/agent.ts';
import type { AgentEventPayload, StoredEvent } from '../src/stream/events.ts';
import { openSse, type SseClient } from '../src/stream/test-client.ts';
import { FakeModel, lastToolContent } from './fake-model/server.ts';
import { request, startKeel, type TestKeel } from './helpers.ts';

let model: FakeModel;
let k: TestKeel;
let sse: SseClient;

before(async () => {
  model = await FakeModel.start();
  k = await startKeel({
    agentProvider: 'openai-compatible',
    agentBaseUrl: model.baseUrl,
    agentModel: 'fake-1',
    agentApiKey: 'test-key',
    agentQueueDepth: 1,
    terminalShell: '/bin/sh',
  });
  sse = await openSse(`${k.url}/stream?from=0`, { headers: k.authHeaders });
});

after(async () => {
  await sse?.close();
  await k?.close();
  await model?.close();
});

const agent = () => k.keel.ctx.services.agent as AgentService;
const events = () => k.keel.ctx.services.eventLog!;

async function api(method: string, path: string, body?: unknown) {
  const res = await request(k.url + path, {
    method,
    headers: { ...k.authHeaders, origin: k.url, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: res.text ? res.json() : undefined };
}

async function newSession(): Promise<string> {
  const r = await api('POST', '/api/chat/sessions', { title: 'agent test' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.id;
}

function logOf(sessionId: string): StoredEvent[] {
  const out: StoredEvent[] = [];
  for (let after = 0; ; ) {
    const page = events().read({ after, sessionId, limit: 1_000 });
    out.push(...page);
    if (page.length < 1_000) return out;
    after = page.at(-1)!.seq;
  }
}

/** Polls the log until the session's `k`-th turn has ended; resolves with that turn event. */
async function turnEnd(sessionId: string, k = 1, timeoutMs = 15_000): Promise<Extract<AgentEventPayload, { type: 'turn' }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ends = logOf(sessionId).filter((e) => e.payload.type === 'turn' && e.payload.state !== 'started');
    if (ends.length >= k) return ends[k - 1]!.payload as Extract<AgentEventPayload, { type: 'turn' }>;
    if (Date.now() > deadline) throw new Error(`turn ${k} of ${sessionId} did not end within ${timeoutMs} ms: ${logOf(sessionId).map((e) => e.payload.type).join(', ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const kind = (p: AgentEventPayload) => (p.type === 'turn' ? `turn:${p.state}` : p.type === 'tool_call' || p.type === 'tool_result' ? `${p.type}:${p.name}` : p.type);

test('a full turn: the agent creates a terminal, runs `echo agent-ok`, waits, reads the screen and answers; the log and /stream have every event in order', async () => {
  const s = await newSession();
  let tid = '';
  model.enqueue(
    { text: 'I will run it.', toolCalls: [{ name: 'terminal_create', args: { name: 'agent', cols: 80, rows: 24 } }] },
    (req) => {
      tid = JSON.parse(lastToolContent(req)).id;
      return { toolCalls: [{ name: 'terminal_write', args: { terminalId: tid, text: 'echo agent-ok', keys: ['Enter'] } }] };
    },
    () => ({ toolCalls: [{ name: 'terminal_wait', args: { terminalId: tid, pattern: '^agent-ok', timeoutMs: 10_000 } }] }),
    () => ({ toolCalls: [{ name: 'terminal_read', args: { terminalId: tid } }] }),
    (req) => {
      const screen = lastToolContent(req);
      if (!/^agent-ok$/m.test(screen)) throw new Error(`screen without agent-ok: ${screen}`);
      return { text: 'The command printed **agent-ok**.', chunks: 5 };
    },
  );
  const r = await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'Run echo agent-ok in a new terminal.' });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  assert.equal(r.json.status, 'started');
  const end = await turnEnd(s);
  assert.equal(end.state, 'finished', JSON.stringify(logOf(s).map((e) => e.payload)));
  assert.deepEqual(model.scriptErrors, []);

  const log = logOf(s);
  const kinds = log.map((e) => kind(e.payload)).filter((t, i, a) => t !== 'assistant_delta' || a[i - 1] !== 'assistant_delta');
  assert.deepEqual(kinds, [
    'user_message',
    'turn:started',
    'assistant_delta', 'assistant_done',
    'tool_call:terminal_create', 'tool_result:terminal_create',
    'tool_call:terminal_write', 'tool_result:terminal_write',
    'tool_call:terminal_wait', 'tool_result:terminal_wait',
    'tool_call:terminal_read', 'tool_result:terminal_read',
    'assistant_delta', 'assistant_done',
    'turn:finished',
  ]);
  const read = log.find((e) => e.payload.type === 'tool_result' && e.payload.name === 'terminal_read')!.payload as Extract<AgentEventPayload, { type: 'tool_result' }>;
  assert.match(read.result, /^agent-ok$/m);
  assert.equal(read.terminalId, tid);
  const wait = log.find((e) => e.payload.type === 'tool_result' && e.payload.name === 'terminal_wait')!.payload as Extract<AgentEventPayload, { type: 'tool_result' }>;
  assert.match(wait.result, /pattern matched/);
  const answer = log.filter((e) => e.payload.type === 'assistant_delta').map((e) => (e.payload as { text: string }).text).join('');
  assert.equal(answer, 'I will run it.The command printed **agent-ok**.');

  // The terminal is a real tab.
  const list = await api('GET', '/api/terminals');
  assert.ok(list.json.terminals.some((t: { id: string; name: string }) => t.id === tid && t.name === 'agent'));

  // /stream delivered the same events, in the same order, once each; and a state naming the busy session and its terminal.
  await sse.until(() => sse.events.some((e) => e.seq === log.at(-1)!.seq), 'the turn end on /stream');
  const streamed = sse.events.filter((e) => e.sessionId === s);
  assert.deepEqual(streamed.map((e) => e.seq), log.map((e) => e.seq));
  assert.deepEqual(streamed.map((e) => e.payload), log.map((e) => e.payload));
  const states = sse.states as { busySessions: string[]; terminals: Record<string, string[]>; model: string }[];
  assert.ok(states.some((st) => st.busySessions.includes(s) && st.model === 'openai-compatible:fake-1'), 'a state with the session busy');
  assert.ok(states.some((st) => st.terminals[s]?.includes(tid)), 'a state with the terminal the agent holds');
  await sse.until(() => !(sse.states.at(-1) as { busySessions: string[] }).busySessions.includes(s), 'a state with the session idle again');
});

test('cancel during a terminal wait ends the turn within 1 s and records it', async () => {
  const s = await newSession();
  let tid = '';
  model.enqueue(
    { toolCalls: [{ name: 'terminal_create', args: { name: 'waiting' } }] },
    (req) => {
      tid = JSON.parse(lastToolContent(req)).id;
      return { toolCalls: [{ name: 'terminal_wait', args: { terminalId: tid, pattern: 'this text never appears', timeoutMs: 60_000 } }] };
    },
  );
  assert.equal((await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'wait forever' })).status, 202);
  const deadline = Date.now() + 10_000;
  while (!logOf(s).some((e) => e.payload.type === 'tool_call' && e.payload.name === 'terminal_wait')) {
    assert.ok(Date.now() < deadline, 'the wait started');
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 300)); // well inside the wait
  const t0 = performance.now();
  const c = await api('POST', `/api/chat/sessions/${s}/cancel`);
  assert.deepEqual(c.json, { cancelled: true });
  const end = await turnEnd(s);
  const ms = performance.now() - t0;
  assert.equal(end.state, 'cancelled');
  assert.ok(ms < 1_000, `cancel took ${ms.toFixed(0)} ms`);
  console.log(`# cancel during a terminal wait (real terminal, via POST /cancel): recorded after ${ms.toFixed(1)} ms`);
  const result = logOf(s).find((e) => e.payload.type === 'tool_result' && e.payload.name === 'terminal_wait')!.payload as Extract<AgentEventPayload, { type: 'tool_result' }>;
  assert.equal(result.isError, true);
  assert.equal(agent().isBusy(s), false);
});

test('cancel during a model stream ends the turn within 1 s; the model request is aborted', async () => {
  const s = await newSession();
  const before = model.requests.length;
  model.enqueue({ hang: true, text: 'I am thinking about' });
  assert.equal((await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'think' })).status, 202);
  await model.waitForRequests(before + 1);
  const deadline = Date.now() + 5_000;
  while (!logOf(s).some((e) => e.payload.type === 'assistant_delta')) {
    assert.ok(Date.now() < deadline, 'streamed text arrived');
    await new Promise((r) => setTimeout(r, 10));
  }
  const t0 = performance.now();
  await api('POST', `/api/chat/sessions/${s}/cancel`);
  const end = await turnEnd(s);
  const ms = performance.now() - t0;
  assert.equal(end.state, 'cancelled');
  assert.ok(ms < 1_000, `cancel took ${ms.toFixed(0)} ms`);
  console.log(`# cancel during a model stream (via POST /cancel): recorded after ${ms.toFixed(1)} ms`);
  const req = model.requests[before]!;
  for (let i = 0; i < 100 && !req.aborted; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(req.aborted, true);
});

test('a model error is an error event and a failed turn; the session takes the next prompt', async () => {
  const s = await newSession();
  model.enqueue({ error: { status: 400, message: 'context length exceeded' } }, { text: 'fine now' });
  assert.equal((await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'one' })).status, 202);
  const end = await turnEnd(s);
  assert.equal(end.state, 'failed');
  const err = logOf(s).find((e) => e.payload.type === 'error')!.payload as Extract<AgentEventPayload, { type: 'error' }>;
  assert.equal(err.code, 'model_error');
  assert.match(err.message, /context length exceeded/);
  assert.equal((await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'two' })).status, 202);
  assert.equal((await turnEnd(s, 2)).state, 'finished');
});

test('busy: with --agent-queue-depth 1 a second prompt is queued (202) and a third refused with 409', async () => {
  const s = await newSession();
  const before = model.requests.length;
  model.enqueue({ hang: true });
  assert.equal((await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'one' })).json.status, 'started');
  const q = await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'two' });
  assert.equal(q.status, 202);
  assert.equal(q.json.status, 'queued');
  const busy = await api('POST', `/api/chat/sessions/${s}/messages`, { content: 'three' });
  assert.equal(busy.status, 409);
  assert.equal(busy.json.error, 'agent_busy');
  await model.waitForRequests(before + 1);
  await api('POST', `/api/chat/sessions/${s}/cancel`);
  assert.equal((await turnEnd(s)).state, 'cancelled');
});

test('/debug/memory shows the agent: busy sessions, queued prompts, turn counters and a budget line', async () => {
  const r = await api('GET', '/debug/memory');
  assert.equal(r.status, 200);
  const a = r.json.subsystems.agent;
  assert.equal(a.configured, true);
  assert.equal(a.busy_sessions, 0);
  assert.equal(a.queued_prompts, 0);
  assert.ok(a.turns_total >= 5);
  assert.ok(a.turns_cancelled >= 3);
  assert.ok(a.turns_failed >= 1);
  assert.ok(r.json.budget.by_subsystem.agent > 0, JSON.stringify(r.json.budget));
});

test('without a model: POST a message answers 503 agent_not_configured with how to configure one', async () => {
  const bare = await startKeel({});
  try {
    const a = bare.keel.ctx.services.agent!;
    assert.equal(a.isConfigured(), false);
    const s = await request(bare.url + '/api/chat/sessions', { method: 'POST', headers: { ...bare.authHeaders, origin: bare.url, 'content-type': 'application/json' }, body: '{}' });
    const id = s.json().id;
    const r = await request(`${bare.url}/api/chat/sessions/${id}/messages`, { method: 'POST', headers: { ...bare.authHeaders, origin: bare.url, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'hi' }) });
    assert.equal(r.status, 503);
    assert.equal(r.json().error, 'agent_not_configured');
    assert.match(r.json().message, /--agent-provider/);
    assert.match(r.json().message, /OPENAI_API_KEY/);
  } finally {
    await bare.close();
  }
});

test('leak: 300 agent turns (text, tools in a real terminal, cancelled streams) in sessions created and deleted leave heap and handles at baseline', async (t) => {
  const { assertExactHandles, assertLeakBounds, formatLeakReport, runLeakScenario } = await import('./leak-kit.ts');
  const report = await runLeakScenario({ scenario: new URL('./fake-model/agent-turns-scenario.ts', import.meta.url), cycles: 300, warmup: 150 });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 1024 * 1024, heapSecondHalfBytes: 512 * 1024 });
  assertExactHandles(report);
});

// The agent service against the fake model server (real HTTP, the real AI SDK client), with an
// in-memory event log and fake terminals. Real terminals and Keel itself: test/agent.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { FakeModel, lastToolContent } from '../../test/fake-model/server.ts';
import { defaultOptions } from '../config/options.ts';
import { FakeClock, systemClock } from '../core/clock.ts';
import { KeelError, TooManyConnectionsError } from '../core/errors.ts';
import type { AgentEventPayload } from '../stream/events.ts';
import { AgentService, type AgentOptions } from './agent.ts';
import { DELTA_MAX_BYTES } from './coalesce.ts';
import { createModel } from './provider.ts';
import { FakeTerminals, MemoryEventLog } from './test-support.ts';

let model: FakeModel;
before(async () => {
  model = await FakeModel.start();
});
after(async () => {
  await model.close();
});

const quiet = pino({ level: 'silent' });

function makeAgent(overrides: Partial<AgentOptions> = {}, opts: { realClock?: boolean } = {}) {
  const options = { ...defaultOptions(), agentProvider: 'openai-compatible' as const, agentBaseUrl: model.baseUrl, agentModel: 'fake-1', agentApiKey: 'test-key', ...overrides };
  const log = new MemoryEventLog();
  const terms = new FakeTerminals();
  const clock = new FakeClock();
  const agent = new AgentService({ options, clock: opts.realClock ? systemClock : clock, log: quiet, events: () => log, terminals: () => terms, modelRetries: 0 });
  return { agent, log, terms, clock, options };
}

let n = 0;
const sid = () => `s_${++n}`;
const types = (ps: AgentEventPayload[]) => ps.map((p) => (p.type === 'turn' ? `turn:${p.state}` : p.type));
const isEnd = (p: AgentEventPayload) => p.type === 'turn' && p.state !== 'started';
/** Waits for the end of the `k`-th turn of a session. */
async function turnEnd(log: MemoryEventLog, s: string, k = 1) {
  let last = 0;
  let e;
  for (let i = 0; i < k; i++) {
    e = await log.waitFor(s, isEnd, 10_000, last);
    last = e.seq;
  }
  return e!.payload as Extract<AgentEventPayload, { type: 'turn' }>;
}

test('not configured: isConfigured is false, configHelp names the flags and environment, startTurn refuses with 503', () => {
  const agent = new AgentService({ options: defaultOptions(), clock: new FakeClock(), log: quiet, events: () => new MemoryEventLog(), terminals: () => new FakeTerminals() });
  assert.equal(agent.isConfigured(), false);
  const help = agent.configHelp();
  for (const s of ['--agent-provider', '--agent-model', '--agent-base-url', 'KEEL_AGENT_PROVIDER', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY']) assert.ok(help.includes(s), `help mentions ${s}: ${help}`);
  assert.throws(() => agent.startTurn('s', 'hi'), (e: unknown) => e instanceof KeelError && e.status === 503 && e.code === 'agent_not_configured');
  assert.deepEqual(agent.state(), { busySessions: [], model: null, configured: false, terminals: {} });

  const partial = { ...defaultOptions(), agentProvider: 'openai-compatible' as const, agentModel: 'gpt-x' };
  assert.equal(createModel(partial), null);
  assert.match(new AgentService({ options: partial, clock: new FakeClock(), log: quiet, events: () => undefined, terminals: () => undefined }).configHelp(), /missing --agent-base-url \(or KEEL_AGENT_BASE_URL\)/);
  // Anthropic needs only a model; the key comes from ANTHROPIC_API_KEY when not set.
  assert.ok(createModel({ ...defaultOptions(), agentProvider: 'anthropic', agentModel: 'claude-x' }, { ANTHROPIC_API_KEY: 'k' }));
});

test('a turn streams text as coalesced, bounded deltas and records the turn with its usage', async () => {
  const { agent, log, clock } = makeAgent();
  const text = 'The answer: ' + 'abcdé✓ '.repeat(700);
  model.enqueue({ text, chunks: 60, usage: { prompt: 123, completion: 45 } });
  const s = sid();
  assert.equal(agent.startTurn(s, 'hello'), 'started');
  assert.equal(agent.isBusy(s), true);
  assert.deepEqual(agent.state().busySessions, [s]);
  const end = await turnEnd(log, s);
  assert.equal(end.state, 'finished');
  assert.deepEqual(end.usage, { inputTokens: 123, outputTokens: 45 });
  assert.equal(end.model, 'openai-compatible:fake-1');

  const ps = log.of(s);
  const deltas = ps.filter((p) => p.type === 'assistant_delta') as Extract<AgentEventPayload, { type: 'assistant_delta' }>[];
  assert.deepEqual(types(ps), ['user_message', 'turn:started', ...deltas.map(() => 'assistant_delta'), 'assistant_done', 'turn:finished']);
  // Each chunk once, in order, none over the bound; 60 streamed pieces coalesced into a few events.
  assert.equal(deltas.map((d) => d.text).join(''), text);
  for (const d of deltas) assert.ok(Buffer.byteLength(d.text) <= DELTA_MAX_BYTES);
  assert.ok(deltas.length <= Math.ceil(Buffer.byteLength(text) / DELTA_MAX_BYTES) + 1, `${deltas.length} deltas`);
  assert.equal(new Set(deltas.map((d) => d.messageId)).size, 1);
  const done = ps.find((p) => p.type === 'assistant_done') as Extract<AgentEventPayload, { type: 'assistant_done' }>;
  assert.equal(done.chars, text.length);

  // What the model was sent: the instructions, the prompt, the tools.
  const body = model.requests.at(-1)!.body;
  assert.equal(body.model, 'fake-1');
  assert.equal(body.stream, true);
  assert.equal(body.messages[0].role, 'system');
  assert.deepEqual(body.messages.at(-1), { role: 'user', content: 'hello' });
  assert.deepEqual(body.tools.map((t: any) => t.function.name).sort(), ['terminal_create', 'terminal_list', 'terminal_read', 'terminal_wait', 'terminal_write']);
  assert.equal(model.requests.at(-1)!.headers.authorization, 'Bearer test-key');

  // Nothing stays: no run, no timer (turn timeout, coalescer) left on the clock.
  assert.equal(agent.isBusy(s), false);
  assert.equal(agent.stats().busy_sessions, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('tools: create, type text and named keys, wait for a pattern, read; the next request carries the results', async () => {
  const { agent, log, terms } = makeAgent();
  let tid = '';
  model.enqueue(
    { text: 'Let me look.', toolCalls: [{ name: 'terminal_create', args: { name: 'work' } }] },
    (req) => {
      tid = JSON.parse(lastToolContent(req)).id;
      return { toolCalls: [{ name: 'terminal_write', args: { terminalId: tid, text: 'make', keys: ['enter', 'Ctrl+C', 'Up'] } }] };
    },
    () => {
      setTimeout(() => terms.print(tid, '\nbuild ok\n$ '), 150);
      return { toolCalls: [{ name: 'terminal_wait', args: { terminalId: tid, pattern: '^build (ok|failed)', timeoutMs: 5_000 } }] };
    },
    (req) => {
      assert.match(lastToolContent(req), /pattern matched: "build ok"/);
      return { toolCalls: [{ name: 'terminal_read', args: { terminalId: tid } }] };
    },
    (req) => {
      assert.match(lastToolContent(req), /build ok/);
      return { text: 'The build is ok.' };
    },
  );
  const s = sid();
  agent.startTurn(s, 'build it');
  assert.equal((await turnEnd(log, s)).state, 'finished');
  assert.deepEqual(model.scriptErrors, []);
  assert.deepEqual(terms.terms.get(tid)!.input, ['make\r\x03\x1b[A']);
  const ps = log.of(s);
  assert.deepEqual(types(ps), [
    'user_message', 'turn:started',
    'assistant_delta', 'assistant_done', 'tool_call', 'tool_result',
    'tool_call', 'tool_result',
    'tool_call', 'tool_result',
    'tool_call', 'tool_result',
    'assistant_delta', 'assistant_done', 'turn:finished',
  ]);
  const results = ps.filter((p) => p.type === 'tool_result') as Extract<AgentEventPayload, { type: 'tool_result' }>[];
  assert.ok(results.every((r) => !r.isError && r.terminalId === tid), JSON.stringify(results));
  const calls = ps.filter((p) => p.type === 'tool_call') as Extract<AgentEventPayload, { type: 'tool_call' }>[];
  assert.deepEqual(calls.map((c) => c.terminalId), [undefined, tid, tid, tid]);
});

test('a tool call with invalid arguments is answered to the model as an error and the turn continues', async () => {
  const { agent, log } = makeAgent();
  model.enqueue(
    { toolCalls: [{ name: 'terminal_read', args: { terminalId: 42 } }, { name: 'terminal_write', args: '{"terminalId": "t_1", ' }, { name: 'rm_rf', args: {} }] },
    { text: 'Sorry, fixed.' },
  );
  const s = sid();
  agent.startTurn(s, 'read it');
  assert.equal((await turnEnd(log, s)).state, 'finished');
  const results = log.of(s).filter((p) => p.type === 'tool_result') as Extract<AgentEventPayload, { type: 'tool_result' }>[];
  assert.equal(results.length, 3);
  assert.ok(results.every((r) => r.isError));
  assert.match(results[0]!.result, /invalid arguments for terminal_read/);
  assert.match(results[1]!.result, /invalid arguments for terminal_write/);
  assert.match(results[2]!.result, /no tool "rm_rf"/);
  // The model saw the errors as the calls' results.
  const msgs = model.requests.at(-1)!.body.messages as any[];
  const toolMsgs = msgs.filter((m) => m.role === 'tool');
  assert.equal(toolMsgs.length, 3);
  assert.match(toolMsgs[0].content, /invalid arguments for terminal_read/);
  const assistant = msgs.find((m) => m.role === 'assistant');
  assert.equal(assistant.tool_calls.length, 3);
});

test('a model error is recorded as an error event and a failed turn; the session stays usable', async () => {
  const { agent, log } = makeAgent();
  model.enqueue({ error: { status: 400, message: 'model exploded' } }, { text: 'back again' });
  const s = sid();
  agent.startTurn(s, 'first');
  const end = await turnEnd(log, s);
  assert.equal(end.state, 'failed');
  assert.equal(end.reason, 'model_error');
  const err = log.of(s).find((p) => p.type === 'error') as Extract<AgentEventPayload, { type: 'error' }>;
  assert.equal(err.code, 'model_error');
  assert.match(err.message, /400.*model exploded/);
  assert.equal(agent.isBusy(s), false);

  assert.equal(agent.startTurn(s, 'second'), 'started');
  assert.equal((await turnEnd(log, s, 2)).state, 'finished');
  // The failed turn's prompt is still part of the conversation.
  const users = (model.requests.at(-1)!.body.messages as any[]).filter((m) => m.role === 'user').map((m) => m.content);
  assert.deepEqual(users, ['first', 'second']);
});

test('an unreachable model is an error event "model_unreachable"', async () => {
  const { agent, log } = makeAgent({ agentBaseUrl: 'http://127.0.0.1:9/v1' });
  const s = sid();
  agent.startTurn(s, 'hi');
  assert.equal((await turnEnd(log, s)).state, 'failed');
  const err = log.of(s).find((p) => p.type === 'error') as Extract<AgentEventPayload, { type: 'error' }>;
  assert.equal(err.code, 'model_unreachable');
  assert.match(err.message, /--agent-base-url/);
});

test('turn timeout: the model call is aborted, error "turn_timeout" and a failed turn are recorded', async () => {
  const { agent, log, clock, options } = makeAgent({ agentTurnTimeoutMs: 30_000 });
  const before = model.requests.length;
  model.enqueue({ hang: true, text: 'thinking' });
  const s = sid();
  agent.startTurn(s, 'hang');
  await model.waitForRequests(before + 1);
  clock.advance(options.agentTurnTimeoutMs);
  const end = await turnEnd(log, s);
  assert.equal(end.state, 'failed');
  assert.equal(end.reason, 'turn_timeout');
  const err = log.of(s).find((p) => p.type === 'error') as Extract<AgentEventPayload, { type: 'error' }>;
  assert.equal(err.code, 'turn_timeout');
  const req = model.requests[before]!;
  for (let i = 0; i < 100 && !req.aborted; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(req.aborted, true, 'the HTTP request to the model was aborted');
  assert.equal(clock.pendingTimers, 0);
});

test('cancel during a model stream ends the turn within 1 s and records it', async () => {
  const { agent, log } = makeAgent({}, { realClock: true });
  const before = model.requests.length;
  model.enqueue({ hang: true, text: 'partial answer' });
  const s = sid();
  agent.startTurn(s, 'go');
  await model.waitForRequests(before + 1);
  await log.waitFor(s, (p) => p.type === 'assistant_delta');
  const t0 = performance.now();
  assert.equal(agent.cancel(s), true);
  const end = await turnEnd(log, s);
  const ms = performance.now() - t0;
  assert.equal(end.state, 'cancelled');
  assert.ok(ms < 1_000, `cancel took ${ms.toFixed(0)} ms`);
  console.log(`# cancel during a model stream: turn recorded as cancelled after ${ms.toFixed(1)} ms`);
  assert.equal(agent.isBusy(s), false);
  assert.equal(agent.cancel(s), false);
  // The partial text is kept, closed by assistant_done.
  const ps = log.of(s);
  assert.ok(ps.some((p) => p.type === 'assistant_done'));
});

test('cancel during a terminal wait ends the turn within 1 s; the wait gets a cancelled result', async () => {
  const { agent, log, terms } = makeAgent();
  const t = terms.create({ cols: 80, rows: 24 });
  model.enqueue({ toolCalls: [{ name: 'terminal_wait', args: { terminalId: t.id, pattern: 'never appears', timeoutMs: 60_000 } }] });
  const s = sid();
  agent.startTurn(s, 'wait');
  await log.waitFor(s, (p) => p.type === 'tool_call');
  await new Promise((r) => setTimeout(r, 150));
  const t0 = performance.now();
  agent.cancel(s);
  const end = await turnEnd(log, s);
  const ms = performance.now() - t0;
  assert.equal(end.state, 'cancelled');
  assert.ok(ms < 1_000, `cancel took ${ms.toFixed(0)} ms`);
  const result = log.of(s).find((p) => p.type === 'tool_result') as Extract<AgentEventPayload, { type: 'tool_result' }>;
  assert.equal(result.isError, true);
  assert.match(result.result, /Cancelled/);
});

test('one turn at a time: a second prompt is queued (bounded), a third refused as busy; the queue runs in order', async () => {
  const { agent, log } = makeAgent({ agentQueueDepth: 1 });
  model.enqueue({ text: 'first answer, slowly', chunks: 4, delayMs: 100 }, { text: 'second answer' });
  const s = sid();
  assert.equal(agent.startTurn(s, 'one'), 'started');
  assert.equal(agent.startTurn(s, 'two'), 'queued');
  assert.equal(agent.startTurn(s, 'three'), 'busy');
  assert.equal(agent.queued(s), 1);
  assert.equal(agent.stats().prompts_refused_busy, 1);
  assert.equal((await turnEnd(log, s, 2)).state, 'finished');
  const ps = log.of(s);
  assert.deepEqual(
    ps.filter((p) => p.type === 'user_message' || (p.type === 'turn' && p.state === 'finished')).map((p) => (p.type === 'user_message' ? p.text : 'finished')),
    ['one', 'finished', 'two', 'finished'],
  );
  for (let i = 0; i < 50 && agent.isBusy(s); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(agent.isBusy(s), false);
  assert.equal(agent.queued(s), 0);
});

test('queue depth 0 refuses a second prompt while busy; cancel drops queued prompts', async () => {
  const { agent, log } = makeAgent({ agentQueueDepth: 0 });
  // Each hung response is taken by its request before the cancel, so none is left for a later test.
  let before = model.requests.length;
  model.enqueue({ hang: true });
  const s = sid();
  agent.startTurn(s, 'one');
  assert.equal(agent.startTurn(s, 'two'), 'busy');
  await model.waitForRequests(before + 1);
  agent.cancel(s);
  await turnEnd(log, s);

  const b = makeAgent({ agentQueueDepth: 3 });
  before = model.requests.length;
  model.enqueue({ hang: true });
  const s2 = sid();
  b.agent.startTurn(s2, 'one');
  assert.equal(b.agent.startTurn(s2, 'two'), 'queued');
  await model.waitForRequests(before + 1);
  b.agent.cancel(s2);
  assert.equal((await turnEnd(b.log, s2)).state, 'cancelled');
  for (let i = 0; i < 50 && b.agent.isBusy(s2); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(b.agent.isBusy(s2), false);
  assert.equal(b.log.of(s2).filter((p) => p.type === 'user_message').length, 1, 'the queued prompt was dropped');
});

test('concurrent turns over --agent-max-concurrent-turns are refused with 503', async () => {
  const { agent, log } = makeAgent({ agentMaxConcurrentTurns: 1 });
  const before = model.requests.length;
  model.enqueue({ hang: true });
  const a = sid();
  agent.startTurn(a, 'one');
  assert.throws(() => agent.startTurn(sid(), 'other'), (e: unknown) => e instanceof TooManyConnectionsError && e.status === 503);
  await model.waitForRequests(before + 1);
  agent.cancel(a);
  await turnEnd(log, a);
});

test('at the step limit the last model call is made with tools disabled', async () => {
  const { agent, log } = makeAgent({ agentMaxSteps: 2 });
  const before = model.requests.length;
  model.enqueue({ toolCalls: [{ name: 'terminal_list', args: {} }] }, { toolCalls: [{ name: 'terminal_list', args: {} }] });
  const s = sid();
  agent.startTurn(s, 'loop');
  assert.equal((await turnEnd(log, s)).state, 'finished', JSON.stringify(log.of(s)));
  assert.equal(model.requests.length - before, 2);
  assert.equal(model.requests[before]!.body.tool_choice, 'auto');
  assert.equal(model.requests[before + 1]!.body.tool_choice, 'none');
  // The first step's call ran; the last step's were not run.
  const results = log.of(s).filter((p) => p.type === 'tool_result') as Extract<AgentEventPayload, { type: 'tool_result' }>[];
  assert.equal(results[0]!.isError, false);
  assert.ok(results.slice(1).every((r) => r.isError && /step limit/.test(r.result)));
  // This server ignored tool_choice "none": the turn ends (not fails), and says why.
  const err = log.of(s).find((p) => p.type === 'error') as Extract<AgentEventPayload, { type: 'error' }>;
  assert.equal(err.code, 'step_limit');
});

test('history: a later turn sends the earlier turns, trimmed to the budget with the gap marked', async () => {
  const { agent, log } = makeAgent({ agentContextTokens: 4_000, agentMaxToolResultBytes: 8_192 });
  const s = sid();
  // A long earlier conversation straight into the log.
  log.append(s, { type: 'user_message', text: 'the very first question' });
  for (let i = 0; i < 30; i++) {
    if (i) log.append(s, { type: 'user_message', text: `question ${i}` });
    log.append(s, { type: 'tool_call', callId: `c${i}`, name: 'terminal_read', args: { terminalId: 't_1' } });
    log.append(s, { type: 'tool_result', callId: `c${i}`, name: 'terminal_read', result: `screen ${i} `.repeat(600), truncated: false, isError: false });
    log.append(s, { type: 'assistant_delta', messageId: `m${i}`, text: `answer ${i}` });
    log.append(s, { type: 'assistant_done', messageId: `m${i}`, chars: 9 });
    log.append(s, { type: 'turn', state: 'finished' });
  }
  model.enqueue({ text: 'ok' });
  agent.startTurn(s, 'the latest question');
  assert.equal((await turnEnd(log, s, 31)).state, 'finished');
  const msgs = model.requests.at(-1)!.body.messages as any[];
  const users = msgs.filter((m) => m.role === 'user').map((m) => m.content as string);
  assert.equal(users[0], 'the very first question');
  assert.equal(users.at(-1), 'the latest question');
  assert.ok(users.some((u) => /earlier messages were left out/.test(u)), 'gap marked');
  assert.ok(JSON.stringify(msgs).length / 4 < 4_000, `request within the budget (${JSON.stringify(msgs).length} chars)`);
  // Calls and results stay paired in what was sent.
  const ids = msgs.filter((m) => m.role === 'assistant').flatMap((m) => (m.tool_calls ?? []).map((c: any) => c.id));
  assert.deepEqual(ids, msgs.filter((m) => m.role === 'tool').map((m) => m.tool_call_id));
});

/**
 * The chat API against a real Keel, with the scripted agent: CRUD, paging, messages rebuilt from the
 * log, prompts (202 started/queued, 409, 503, 413, 404, 400), cancel, export, persistence across a
 * restart, and the bounded cache with idle eviction (fake clock) that loses nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { request, startKeel, tmpDir, type TestKeel } from '../../test/helpers.ts';
import { ScriptedAgent, scriptedAgentSubsystem } from './test-agent.ts';

function api(k: TestKeel) {
  const call = async (method: string, path: string, body?: unknown, raw?: string) => {
    const headers: Record<string, string> = { ...k.authHeaders };
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    return request(`${k.url}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  };
  return {
    call,
    async create(title?: string): Promise<{ id: string; title: string }> {
      const r = await call('POST', '/api/chat/sessions', title === undefined ? {} : { title });
      assert.equal(r.status, 201, r.text);
      return r.json();
    },
    async post(id: string, content: string) {
      return call('POST', `/api/chat/sessions/${id}/messages`, { content });
    },
  };
}

test('sessions: create, get, rename, list most recent first with paging, delete (with its events)', async () => {
  const clock = new FakeClock();
  const agent = new ScriptedAgent();
  const k = await startKeel({ healthSampleMs: 600_000 }, { clock, subsystems: [scriptedAgentSubsystem(agent)] });
  try {
    const a = api(k);
    const first = await a.create();
    assert.equal(first.title, 'New chat');
    clock.advance(1000);
    const ids = [first.id];
    for (let i = 1; i < 5; i++) {
      ids.push((await a.create(`chat ${i}`)).id);
      clock.advance(1000);
    }
    const got = (await a.call('GET', `/api/chat/sessions/${ids[2]}`)).json();
    assert.equal(got.title, 'chat 2');
    assert.equal(got.busy, false);

    const renamed = await a.call('PATCH', `/api/chat/sessions/${ids[1]}`, { title: '  renamed  ' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json().title, 'renamed');

    // A prompt moves a session to the top, and titles an untitled one.
    assert.equal((await a.post(first.id, 'list my terminals\nplease')).status, 202);
    const seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r = await a.call('GET', `/api/chat/sessions?limit=2${before ? `&before=${encodeURIComponent(before)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      const body = r.json();
      assert.ok(body.sessions.length <= 2);
      seen.push(...body.sessions.map((s: { id: string }) => s.id));
      before = body.nextBefore;
      if (!before) break;
    }
    assert.deepEqual(seen, [first.id, ids[4], ids[3], ids[2], ids[1]]);
    const top = (await a.call('GET', '/api/chat/sessions?limit=1')).json().sessions[0];
    assert.equal(top.title, 'list my terminals');

    assert.ok(k.keel.ctx.services.eventLog!.read({ after: 0, sessionId: first.id }).length > 0);
    assert.equal((await a.call('DELETE', `/api/chat/sessions/${first.id}`)).status, 204);
    assert.equal((await a.call('GET', `/api/chat/sessions/${first.id}`)).status, 404);
    assert.equal((await a.call('DELETE', `/api/chat/sessions/${first.id}`)).status, 404);
    assert.equal(k.keel.ctx.services.eventLog!.read({ after: 0, sessionId: first.id }).length, 0, 'its events are gone');
    assert.throws(() => k.keel.ctx.services.eventLog!.append(first.id, { type: 'user_message', text: 'late' }), /chat_session_not_found|does not exist/);

    // Bad input.
    assert.equal((await a.call('PATCH', `/api/chat/sessions/${ids[1]}`, { title: '' })).status, 400);
    assert.equal((await a.call('PATCH', `/api/chat/sessions/${ids[1]}`, { title: 'x'.repeat(201) })).status, 400);
    assert.equal((await a.call('POST', '/api/chat/sessions', { title: 'ok', extra: 1 })).status, 400);
    const badCursor = await a.call('GET', '/api/chat/sessions?before=nope');
    assert.equal(badCursor.status, 400);
    assert.equal(badCursor.json().error, 'invalid_request');
    assert.equal((await a.call('GET', '/api/chat/sessions?limit=0')).status, 400);
  } finally {
    await k.close();
  }
});

test('messages: prompts become turns; messages are rebuilt from the log and paged; cancel is recorded; export md and json', async () => {
  const agent = new ScriptedAgent();
  const k = await startKeel({}, { subsystems: [scriptedAgentSubsystem(agent)] });
  try {
    const a = api(k);
    const { id } = await a.create('work');
    for (let i = 0; i < 3; i++) {
      const r = await a.post(id, `prompt ${i}`);
      assert.equal(r.status, 202, r.text);
      assert.deepEqual(r.json(), { status: 'started', sessionId: id });
    }
    // 3 turns × (user, assistant, tool) = 9 messages.
    const all = (await a.call('GET', `/api/chat/sessions/${id}/messages?limit=200`)).json();
    assert.equal(all.messages.length, 9);
    assert.equal(all.nextBefore, null);
    assert.deepEqual(all.messages.slice(0, 3).map((m: { kind: string }) => m.kind), ['user', 'assistant', 'tool']);
    assert.equal(all.messages[0].text, 'prompt 0');
    assert.equal(all.messages[1].text, 'answer to: prompt 0');
    assert.equal(all.messages[1].done, true);
    assert.equal(all.messages[2].result.text, '[]');

    // Paging backwards, 4 at a time: 9 = 4 + 4 + 1, no overlap, no gap.
    const pages: number[][] = [];
    let before: number | null = null;
    for (let p = 0; p < 5; p++) {
      const r = await a.call('GET', `/api/chat/sessions/${id}/messages?limit=4${before ? `&before=${before}` : ''}`);
      const body = r.json();
      pages.unshift(body.messages.map((m: { id: number }) => m.id));
      before = body.nextBefore;
      if (!before) break;
    }
    assert.deepEqual(pages.map((p) => p.length), [1, 4, 4]);
    assert.deepEqual(pages.flat(), all.messages.map((m: { id: number }) => m.id));

    agent.hold = true;
    assert.equal((await a.post(id, 'long one')).status, 202);
    assert.equal((await a.call('GET', `/api/chat/sessions/${id}`)).json().busy, true);
    const c = await a.call('POST', `/api/chat/sessions/${id}/cancel`);
    assert.deepEqual(c.json(), { cancelled: true });
    assert.deepEqual((await a.call('POST', `/api/chat/sessions/${id}/cancel`)).json(), { cancelled: false });
    const last = (await a.call('GET', `/api/chat/sessions/${id}/messages?limit=1`)).json().messages[0];
    assert.equal(last.kind, 'turn');
    assert.equal(last.state, 'cancelled');

    const md = await a.call('GET', `/api/chat/sessions/${id}/export?format=md`);
    assert.equal(md.status, 200);
    assert.match(String(md.headers['content-type']), /^text\/markdown/);
    assert.match(String(md.headers['content-disposition']), /attachment; filename="keel-chat-.*\.md"/);
    assert.match(md.text, /^# work\n/);
    assert.match(md.text, /## You .*\n\nprompt 2\n/);
    assert.match(md.text, /## Assistant .*\n\nanswer to: prompt 2\n/);
    assert.match(md.text, /Turn cancelled/);
    const json = await a.call('GET', `/api/chat/sessions/${id}/export?format=json`);
    assert.equal(json.json().session.title, 'work');
    assert.equal(json.json().messages.length, 11);
    assert.equal((await a.call('GET', `/api/chat/sessions/${id}/export?format=pdf`)).status, 400);

    // A long session is exported page by page (50 messages a page), complete and in order.
    agent.hold = false;
    const long = (await a.create('long')).id;
    for (let i = 0; i < 60; i++) agent.startTurn(long, `p${i}`);
    const big = (await a.call('GET', `/api/chat/sessions/${long}/export?format=json`)).json();
    assert.equal(big.messages.length, 180);
    assert.deepEqual(big.messages.filter((m: { kind: string }) => m.kind === 'user').map((m: { text: string }) => m.text), Array.from({ length: 60 }, (_, i) => `p${i}`));
    const ids = big.messages.map((m: { id: number }) => m.id);
    assert.deepEqual(ids, [...ids].sort((x: number, y: number) => x - y));
    const bigMd = (await a.call('GET', `/api/chat/sessions/${long}/export?format=md`)).text;
    assert.equal(bigMd.match(/^## You /gm)?.length, 60);
    assert.ok(bigMd.indexOf('answer to: p59') > bigMd.indexOf('answer to: p0'));
    const empty = (await a.create('empty')).id;
    assert.deepEqual((await a.call('GET', `/api/chat/sessions/${empty}/export?format=json`)).json().messages, []);
  } finally {
    await k.close();
  }
});

test('prompt answers: 202 queued, 409 agent_busy, 503 agent_not_configured, 413, 404, 400', async () => {
  const agent = new ScriptedAgent();
  agent.hold = true;
  agent.queueDepth = 1;
  const k = await startKeel({ maxChatMessageBytes: 100 }, { subsystems: [scriptedAgentSubsystem(agent)] });
  try {
    const a = api(k);
    const { id } = await a.create();
    assert.equal((await a.post(id, 'one')).json().status, 'started');
    assert.equal((await a.post(id, 'two')).json().status, 'queued');
    const busy = await a.post(id, 'three');
    assert.equal(busy.status, 409);
    assert.equal(busy.json().error, 'agent_busy');

    const big = await a.post(id, 'é'.repeat(51)); // 102 bytes, 51 characters
    assert.equal(big.status, 413);
    assert.equal(big.json().error, 'message_too_large');
    assert.match(big.json().message, /--max-chat-message-bytes/);

    const unknown = await a.post('no-such-session', 'hi');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error, 'chat_session_not_found');
    for (const path of ['', '/messages', '/export', '/cancel']) {
      const r = await a.call(path === '/cancel' ? 'POST' : 'GET', `/api/chat/sessions/nope${path}`);
      assert.equal(r.status, 404, `${path}: ${r.text}`);
    }

    const invalid = await a.call('POST', `/api/chat/sessions/${id}/messages`, undefined, '{"content": ');
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json().error, 'invalid_json');
    assert.equal((await a.post(id, '   ')).status, 400);
    assert.equal((await a.call('POST', `/api/chat/sessions/${id}/messages`, { content: 5 })).status, 400);
    assert.equal((await a.call('POST', `/api/chat/sessions/${id}/messages`, { text: 'hi' })).status, 400);

    agent.configured = false;
    const nc = await a.post(id, 'hi');
    assert.equal(nc.status, 503);
    assert.equal(nc.json().error, 'agent_not_configured');
    assert.match(nc.json().message, /--agent-provider/);
  } finally {
    await k.close();
  }
});

test('without a configured model: 503 agent_not_configured with how to configure it; everything else works', async () => {
  const k = await startKeel({ agentProvider: 'none' });
  try {
    const a = api(k);
    const { id } = await a.create();
    const r = await a.post(id, 'hi');
    assert.equal(r.status, 503);
    assert.equal(r.json().error, 'agent_not_configured');
    assert.match(r.json().message, /agent-provider/);
    assert.equal((await a.call('GET', `/api/chat/sessions/${id}/messages`)).json().messages.length, 0);
    assert.deepEqual((await a.call('POST', `/api/chat/sessions/${id}/cancel`)).json(), { cancelled: false });
  } finally {
    await k.close();
  }
});

test('persisted: sessions and messages survive a restart; the cache evicts idle sessions (fake clock) and loses nothing', async () => {
  const dataDir = tmpDir();
  let k: TestKeel | undefined;
  try {
    const clock = new FakeClock();
    const agent = new ScriptedAgent();
    k = await startKeel({ dataDir, chatCacheIdleMs: 60_000, chatCacheMaxEntries: 3, healthSampleMs: 600_000 }, { clock, subsystems: [scriptedAgentSubsystem(agent)] });
    const a = api(k);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await a.create(`s${i}`)).id);
    const chat = () => k!.keel.ctx.observe.subsystems().chat as Record<string, number>;
    assert.equal(chat().cache_entries, 3, 'bounded by chatCacheMaxEntries');
    assert.equal(chat().cache_evictions_total, 2);
    clock.advance(1000);
    assert.equal((await a.post(ids[0]!, 'remember me')).status, 202);
    clock.advance(60_000 + 15_000);
    assert.equal(chat().cache_entries, 0, 'idle sessions left the cache');
    assert.ok(k.keel.ctx.audit.entries().some((e) => e.subsystem === 'chat' && e.kind === 'evict'));
    const again = (await a.call('GET', `/api/chat/sessions/${ids[0]}/messages`)).json();
    assert.equal(again.messages[0].text, 'remember me');
    assert.equal((await a.call('GET', `/api/chat/sessions/${ids[4]}`)).json().title, 's4');
    // The health monitor's trim empties the cache too.
    k.keel.ctx.health.runTrims('warning');
    assert.equal(chat().cache_entries, 0);
    await k.close();

    k = await startKeel({ dataDir }, { subsystems: [scriptedAgentSubsystem(new ScriptedAgent())] });
    const b = api(k);
    const list = (await b.call('GET', '/api/chat/sessions')).json().sessions;
    assert.equal(list.length, 5);
    assert.equal(list[0].id, ids[0], 'the prompted session is the most recent');
    assert.equal(list[0].title, 's0');
    const msgs = (await b.call('GET', `/api/chat/sessions/${ids[0]}/messages`)).json().messages;
    assert.deepEqual(msgs.map((m: { kind: string }) => m.kind), ['user', 'assistant', 'tool']);
  } finally {
    await k?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

/**
 * /stream against a real Keel: headers and framing, resume exactly once (including the race between
 * the backlog and live events), a subscriber that stops reading is cut while others keep receiving and
 * then resumes losslessly, max lifetime (fake clock), the connection cap, shutdown, agent state.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import { test } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { ScriptedAgent, scriptedAgentSubsystem } from '../chat/test-agent.ts';
import { connectionsInUse, request, startKeel, waitFor, type TestKeel } from '../../test/helpers.ts';
import type { StoredEvent } from './events.ts';
import { SseParser } from './sse-format.ts';
import { openSse } from './test-client.ts';

async function newSession(k: TestKeel): Promise<string> {
  const res = await request(`${k.url}/api/chat/sessions`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 201, res.text);
  return res.json().id;
}

function log(k: TestKeel) {
  const l = k.keel.ctx.services.eventLog;
  assert.ok(l, 'the event log service is registered');
  return l;
}

function stats(k: TestKeel): Record<string, number> {
  return k.keel.ctx.observe.subsystems().stream as Record<string, number>;
}

/** Asserts `seqs` is exactly from..to, each once, in order. */
function assertRun(seqs: number[], from: number, to: number, what: string): void {
  const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  if (seqs.length !== want.length || seqs.some((s, i) => s !== want[i])) {
    const dup = seqs.find((s, i) => seqs.indexOf(s) !== i);
    const missing = want.find((s) => !seqs.includes(s));
    assert.fail(`${what}: expected seqs ${from}..${to} once each in order; got ${seqs.length} (first duplicate ${dup}, first missing ${missing})`);
  }
}

const tick = () => new Promise((r) => setImmediate(r));

test('GET /stream: proxy-friendly headers, a connection id, state on connect, live events, /debug/memory counts it', async () => {
  const k = await startKeel({ maxSseConnections: 5 });
  try {
    const s = await newSession(k);
    const c = await openSse(`${k.url}/stream`, { headers: k.authHeaders });
    assert.equal(c.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(c.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(c.headers['x-accel-buffering'], 'no');
    assert.equal(c.headers.connection, 'keep-alive');
    assert.match(String(c.headers['x-keel-connection-id']), /^[0-9a-z]+$/);
    await c.until(() => c.states.length === 1, 'the state event');
    assert.deepEqual(Object.keys(c.states[0] as object).sort(), ['busySessions', 'configured', 'model', 'terminals']);
    const e = log(k).append(s, { type: 'user_message', text: 'hello' });
    await c.until(() => c.events.length === 1, 'the live event');
    assert.deepEqual(c.events[0], e);
    assert.ok(c.comments.some((x) => x === `keel stream ${c.headers['x-keel-connection-id']}`));

    const mem = (await request(`${k.url}/debug/memory`, { headers: k.authHeaders })).json();
    assert.equal(mem.connections.sse_connections, 1);
    assert.equal(mem.connections.max_sse_connections, 5);
    assert.equal(mem.subsystems.stream.subscribers, 1);
    assert.equal(mem.subsystems.stream.log_rows, 1);
    const metrics = (await request(`${k.url}/metrics`, { headers: k.authHeaders })).text;
    assert.match(metrics, /keel_subsystem\{subsystem="stream",stat="cut_total"\} 0/);
    assert.match(metrics, /keel_subsystem\{subsystem="chat",stat="cache_entries"\} 1/);

    await c.close();
    await waitFor(() => connectionsInUse(k, 'sse_connections') === 0, 'the SSE slot to be released');
    assert.equal(stats(k).subscribers, 0);
    assert.equal(stats(k).heartbeat_timer, 0, 'no timer without subscribers');
  } finally {
    await k.close();
  }
});

test('resume: disconnected mid-stream and reconnected with Last-Event-ID, a client gets exactly the missed events once, in order — while events keep coming', async () => {
  const k = await startKeel();
  try {
    const s = await newSession(k);
    for (let i = 0; i < 1000; i++) log(k).append(s, { type: 'assistant_delta', messageId: 'm', text: `backlog ${i} `.padEnd(100, '.') });
    // Keep appending while clients replay, so backlog pages and live events race.
    let appending = true;
    const appender = (async () => {
      for (let i = 0; appending && i < 5_000; i++) {
        log(k).append(s, { type: 'assistant_delta', messageId: 'm', text: `live ${i}` });
        await tick();
      }
    })();
    const a = await openSse(`${k.url}/stream?from=0`, { headers: k.authHeaders });
    await a.until(() => a.events.length >= 600, '600 events on the first connection');
    await a.close();
    const got = a.events.map((e) => e.seq);
    const b = await openSse(`${k.url}/stream?from=0`, { headers: { ...k.authHeaders, 'last-event-id': String(a.lastId()) } });
    await b.until(() => b.lastId() > 1200, 'the second connection to pass the backlog into live events');
    appending = false;
    await appender;
    const head = log(k).head();
    await b.until(() => b.lastId() === head, `the second connection to reach the head (${head})`);
    assertRun([...got, ...b.events.map((e) => e.seq)], 1, head, 'first + second connection');
    await b.close();
  } finally {
    await k.close();
  }
});

test('?session= filters events, and resumes within the session', async () => {
  const k = await startKeel();
  try {
    const s1 = await newSession(k);
    const s2 = await newSession(k);
    const l = log(k);
    const first = l.append(s1, { type: 'user_message', text: 'a' });
    l.append(s2, { type: 'user_message', text: 'b' });
    const c = await openSse(`${k.url}/stream?from=0&session=${s1}`, { headers: k.authHeaders });
    await c.until(() => c.events.length === 1, 'the backlog of s1');
    l.append(s2, { type: 'user_message', text: 'c' });
    const last = l.append(s1, { type: 'user_message', text: 'd' });
    await c.until(() => c.events.length === 2, 'the live event of s1');
    assert.deepEqual(c.events.map((e) => e.seq), [first.seq, last.seq]);
    assert.ok(c.events.every((e) => e.sessionId === s1));
    await c.close();
  } finally {
    await k.close();
  }
});

/** Undoes chunked transfer encoding of a raw HTTP response body (complete chunks only). */
function dechunk(raw: Buffer): string {
  const headEnd = raw.indexOf('\r\n\r\n');
  let i = headEnd + 4;
  const out: Buffer[] = [];
  for (;;) {
    const nl = raw.indexOf('\r\n', i);
    if (nl === -1) break;
    const size = parseInt(raw.subarray(i, nl).toString(), 16);
    if (!(size > 0) || nl + 2 + size > raw.length) break;
    out.push(raw.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(out).toString('utf8');
}

test('a subscriber that stops reading is cut at its queue bound while others keep receiving; memory stays bounded; it resumes losslessly', async () => {
  const maxQueuedBytes = 64 * 1024;
  const k = await startKeel({ sseMaxQueuedEvents: 64, sseMaxQueuedBytes: maxQueuedBytes });
  try {
    const s = await newSession(k);
    const l = log(k);
    const start = l.append(s, { type: 'user_message', text: 'start' }).seq;
    const good = await openSse(`${k.url}/stream?from=${start}`, { headers: k.authHeaders });

    // A raw client that sends its request and never reads a byte.
    const { port } = new URL(k.url);
    const raw = net.connect(Number(port), '127.0.0.1');
    raw.pause();
    raw.write(`GET /stream?from=${start} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${k.token}\r\n\r\n`);
    await waitFor(() => stats(k).subscribers === 2, 'both subscribers to be connected');

    const result = 'x'.repeat(8 * 1024);
    let maxQueued = 0;
    let maxSocketBuffered = 0;
    // Bounded: at most 4,000 events of 8 KiB (32 MB through the kernel's buffers), stopping at the cut.
    for (let i = 0; i < 4_000 && stats(k).cut_total === 0; i++) {
      l.append(s, { type: 'tool_result', callId: `c${i}`, name: 'terminal_read', result, truncated: false, isError: false });
      const st = stats(k);
      maxQueued = Math.max(maxQueued, st.queued_bytes ?? 0);
      maxSocketBuffered = Math.max(maxSocketBuffered, st.socket_buffered_bytes ?? 0);
      if (i % 8 === 7) await tick();
    }
    assert.equal(stats(k).cut_total, 1, 'the non-reading subscriber was cut');
    assert.ok(maxQueued <= maxQueuedBytes, `queued bytes stayed under the bound (max seen ${maxQueued})`);
    // Each response buffers at most its high-water mark plus the frame that crossed it.
    const perResponse = getDefaultHighWaterMark(false) + result.length + 300;
    assert.ok(maxSocketBuffered <= 2 * perResponse, `the write buffers stayed bounded (max seen ${maxSocketBuffered}, bound 2 × ${perResponse})`);
    assert.ok(k.keel.ctx.audit.entries().some((e) => e.subsystem === 'stream' && e.kind === 'cut'), 'the cut is in the audit log');

    // The good subscriber got everything, and keeps receiving.
    const head = l.head();
    await good.until(() => good.lastId() === head, 'the reading subscriber to have every event');
    const after = l.append(s, { type: 'user_message', text: 'after the cut' });
    await good.until(() => good.lastId() === after.seq, 'the reading subscriber to get a new event');
    assertRun(good.events.map((e) => e.seq), start + 1, after.seq, 'the reading subscriber');
    await waitFor(() => connectionsInUse(k, 'sse_connections') === 1, 'the cut subscriber slot to be released');

    // The cut client reads what reached it, then resumes from its last complete event.
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    const rawClosed = new Promise((r) => raw.once('close', r));
    raw.resume();
    await rawClosed;
    const seen: StoredEvent[] = [];
    new SseParser((e) => e.event === 'message' && seen.push(JSON.parse(e.data))).push(dechunk(Buffer.concat(chunks)));
    assert.ok(seen.length > 0 && seen.length < after.seq - start, `the cut client had part of the events (${seen.length})`);
    const lastSeen = seen[seen.length - 1]!.seq;
    const resumed = await openSse(`${k.url}/stream`, { headers: { ...k.authHeaders, 'last-event-id': String(lastSeen) } });
    await resumed.until(() => resumed.lastId() === after.seq, 'the resumed client to reach the head');
    assertRun([...seen, ...resumed.events].map((e) => e.seq), start + 1, after.seq, 'cut client before + after resuming');
    await resumed.close();
    await good.close();
  } finally {
    await k.close();
  }
});

test('max lifetime (fake clock): heartbeats from one shared timer, then a clean end with a retry hint', async () => {
  const clock = new FakeClock();
  const k = await startKeel({ sseHeartbeatMs: 10_000, sseMaxLifetimeMs: 60_000, sseRetryMs: 1234, healthSampleMs: 600_000 }, { clock });
  try {
    const a = await openSse(`${k.url}/stream`, { headers: k.authHeaders });
    const b = await openSse(`${k.url}/stream`, { headers: k.authHeaders });
    await waitFor(() => stats(k).subscribers === 2, 'two subscribers');
    assert.equal(stats(k).heartbeat_timer, 1, 'one timer for all subscribers');
    clock.advance(10_000);
    await a.until(() => a.comments.includes(''), 'a heartbeat comment');
    await b.until(() => b.comments.includes(''), 'a heartbeat comment');
    assert.ok(!a.ended && !b.ended);
    clock.advance(50_000);
    await a.until(() => a.ended, 'the stream to end at its max lifetime');
    await b.until(() => b.ended, 'the stream to end at its max lifetime');
    assert.ok(a.comments.includes('end max_lifetime'));
    await waitFor(() => connectionsInUse(k, 'sse_connections') === 0, 'the slots to be released');
    assert.equal(stats(k).lifetime_ended_total, 2);
    assert.equal(stats(k).heartbeat_timer, 0);
    await a.close();
    await b.close();
  } finally {
    await k.close();
  }
});

test('over --max-sse-connections: 503 too_many_connections (JSON); bad Last-Event-ID: 400', async () => {
  const k = await startKeel({ maxSseConnections: 1 });
  try {
    const a = await openSse(`${k.url}/stream`, { headers: k.authHeaders });
    const res = await request(`${k.url}/stream`, { headers: k.authHeaders });
    assert.equal(res.status, 503);
    assert.equal(res.json().error, 'too_many_connections');
    assert.match(res.json().message, /--max-sse-connections/);
    await a.close();
    await waitFor(() => connectionsInUse(k, 'sse_connections') === 0, 'the slot to be released');
    const bad = await request(`${k.url}/stream`, { headers: { ...k.authHeaders, 'last-event-id': 'nope' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error, 'invalid_request');
    const unauth = await request(`${k.url}/stream`);
    assert.equal(unauth.status, 401);
    assert.equal(connectionsInUse(k, 'sse_connections'), 0);
  } finally {
    await k.close();
  }
});

test('agent state: sent on connect and whenever it changes; shutdown ends every stream cleanly', async () => {
  const agent = new ScriptedAgent();
  agent.hold = true;
  const k = await startKeel({}, { subsystems: [scriptedAgentSubsystem(agent)] });
  try {
    const s = await newSession(k);
    const c = await openSse(`${k.url}/stream`, { headers: k.authHeaders });
    await c.until(() => c.states.length === 1, 'the state on connect');
    assert.deepEqual((c.states[0] as { busySessions: string[] }).busySessions, []);
    const post = await request(`${k.url}/api/chat/sessions/${s}/messages`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'go' }) });
    assert.equal(post.status, 202, post.text);
    await c.until(() => c.states.length === 2, 'the busy state');
    assert.deepEqual((c.states[1] as { busySessions: string[] }).busySessions, [s]);
    agent.finish(s);
    await c.until(() => c.states.length === 3, 'the idle state');
    assert.deepEqual((c.states[2] as { busySessions: string[] }).busySessions, []);
    k.keel.ctx.services.eventLog!.publishState(); // unchanged: nothing sent
    await k.close();
    await c.until(() => c.ended, 'the stream to end at shutdown');
    assert.ok(c.comments.includes('end shutdown'));
    assert.equal(c.states.length, 3);
    await c.closed;
  } finally {
    await k.close();
  }
});

test('an HTTP/1.0 client (nginx proxies upstream with HTTP/1.0 by default) gets raw frames, not chunks, and a closed connection at the end', async () => {
  const k = await startKeel();
  try {
    const s = await newSession(k);
    const first = log(k).append(s, { type: 'user_message', text: 'one' });
    const { port } = new URL(k.url);
    const raw = net.connect(Number(port), '127.0.0.1');
    let text = '';
    raw.setEncoding('utf8');
    raw.on('data', (d: string) => (text += d));
    const rawClosed = new Promise((r) => raw.once('close', r));
    raw.write(`GET /stream?from=0 HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${k.token}\r\n\r\n`);
    await waitFor(() => text.includes(`id: ${first.seq}\n`), 'the backlog event');
    const second = log(k).append(s, { type: 'user_message', text: 'two' });
    await waitFor(() => text.includes(`id: ${second.seq}\n`), 'the live event');
    const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(head, /transfer-encoding/i);
    const events: StoredEvent[] = [];
    new SseParser((e) => e.event === 'message' && events.push(JSON.parse(e.data))).push(body);
    assert.deepEqual(events.map((e) => e.seq), [first.seq, second.seq]);
    await k.close();
    await rawClosed;
    assert.match(text, /: end shutdown\n\n$/);
  } finally {
    await k.close();
  }
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { openDatabase } from '../store/db.ts';
import { EventLog } from './event-log.ts';
import type { StoredEvent } from './events.ts';

function makeLog(opts: { maxEventsPerSession?: number; maxAgeMs?: number; dir?: string } = {}) {
  const clock = new FakeClock();
  const db = openDatabase(opts.dir ?? ':memory:');
  const published: StoredEvent[] = [];
  const log = new EventLog(db, { maxEventsPerSession: opts.maxEventsPerSession ?? 1000, maxAgeMs: opts.maxAgeMs ?? 0, sweepMs: 60_000, clock }, (e, json) => {
    assert.deepEqual(JSON.parse(json), e, 'the published JSON is the event');
    published.push(e);
  });
  return { clock, db, log, published, close: () => (log.dispose(), db.close()) };
}

test('append persists and publishes with increasing seq; read pages by seq and session', () => {
  const { log, published, clock, close } = makeLog();
  const a = log.append('s1', { type: 'user_message', text: 'hi' });
  clock.advance(5);
  const b = log.append('s2', { type: 'assistant_delta', messageId: 'm', text: 'x' });
  const c = log.append('s1', { type: 'error', code: 'e', message: 'boom' });
  assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3]);
  assert.equal(b.at, a.at + 5);
  assert.deepEqual(published, [a, b, c]);
  assert.equal(log.head, 3);
  assert.equal(log.rows, 3);
  assert.deepEqual(log.read({ after: 0 }), [a, b, c]);
  assert.deepEqual(log.read({ after: 1, limit: 1 }), [b]);
  assert.deepEqual(log.read({ after: 0, sessionId: 's1' }), [a, c]);
  assert.deepEqual(log.readRaw({ after: 2 }).map((r) => JSON.parse(r.json)), [c]);
  assert.equal(log.deleteSession('s1'), 2);
  assert.deepEqual(log.read({ after: 0 }), [b]);
  assert.equal(log.rows, 1);
  close();
});

test('a seq is never reused, even after the newest rows are deleted and the database is reopened', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-log-'));
  try {
    let l = makeLog({ dir });
    l.log.append('s', { type: 'user_message', text: '1' });
    l.log.append('s', { type: 'user_message', text: '2' });
    l.log.deleteSession('s');
    l.close();
    l = makeLog({ dir });
    assert.equal(l.log.head, 2);
    assert.equal(l.log.rows, 0);
    assert.equal(l.log.append('s', { type: 'user_message', text: '3' }).seq, 3);
    l.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('retention by count: checked every 128 appends and by the sweep, per session', async () => {
  const { log, close } = makeLog({ maxEventsPerSession: 50 });
  for (let i = 0; i < 127; i++) log.append('big', { type: 'user_message', text: String(i) });
  for (let i = 0; i < 10; i++) log.append('small', { type: 'user_message', text: String(i) });
  // The 128th append overall is a check of its session (small: under the limit).
  assert.equal(log.read({ after: 0, sessionId: 'big' }).length, 127);
  assert.equal(await log.sweep(), 77);
  const kept = log.read({ after: 0, sessionId: 'big' });
  assert.equal(kept.length, 50);
  assert.equal((kept[0]!.payload as { text: string }).text, '77', 'the oldest ones went');
  assert.equal(log.read({ after: 0, sessionId: 'small' }).length, 10);
  // On append: the 256th append overall (the 119th of these) trims `big` back to 50 without a sweep.
  for (let i = 0; i < 128; i++) log.append('big', { type: 'user_message', text: 'more' + i });
  assert.equal(log.read({ after: 0, sessionId: 'big' }).length, 50 + 9);
  assert.equal(log.deletedByRetention, 77 + 119);
  assert.equal(log.rows, 59 + 10);
  close();
});

test('retention by age: the sweep deletes events older than maxAgeMs', async () => {
  const { log, clock, close } = makeLog({ maxAgeMs: 10_000 });
  log.append('s', { type: 'user_message', text: 'old' });
  clock.advance(6_000);
  log.append('s', { type: 'user_message', text: 'newer' });
  clock.advance(6_000);
  assert.equal(await log.sweep(), 1);
  assert.deepEqual(log.read({ after: 0 }).map((e) => (e.payload as { text: string }).text), ['newer']);
  assert.equal(log.rows, 1);
  close();
});

test('readMessagePage: whole messages, newest page first, turn markers left out', () => {
  const { log, close } = makeLog();
  const s = 's';
  log.append(s, { type: 'user_message', text: 'q1' }); // 1
  log.append(s, { type: 'turn', state: 'started' }); // 2
  log.append(s, { type: 'assistant_delta', messageId: 'a', text: 'he' }); // 3
  log.append(s, { type: 'tool_call', callId: 'c', name: 't', args: {} }); // 4 (interleaved)
  log.append(s, { type: 'assistant_delta', messageId: 'a', text: 'llo' }); // 5
  log.append(s, { type: 'assistant_done', messageId: 'a', chars: 5 }); // 6
  log.append(s, { type: 'tool_result', callId: 'c', name: 't', result: 'r', truncated: false, isError: false }); // 7
  log.append(s, { type: 'turn', state: 'finished' }); // 8
  log.append(s, { type: 'user_message', text: 'q2' }); // 9
  log.append(s, { type: 'turn', state: 'cancelled', reason: 'user' }); // 10
  let page = log.readMessagePage(s, Number.MAX_SAFE_INTEGER, 2);
  assert.deepEqual(page.events.map((e) => e.seq), [9, 10]);
  assert.equal(page.more, true);
  page = log.readMessagePage(s, 9, 2);
  assert.deepEqual(page.events.map((e) => e.seq), [3, 4, 5, 6, 7], 'both messages, every event of each');
  assert.equal(page.more, true);
  page = log.readMessagePage(s, 3, 2);
  assert.deepEqual(page.events.map((e) => e.seq), [1]);
  assert.equal(page.more, false);
  // Forwards, as the export reads them.
  page = log.readMessagesAfter(s, 0, 2);
  assert.deepEqual(page.events.map((e) => e.seq), [1, 3, 5, 6]);
  assert.equal(page.more, true);
  page = log.readMessagesAfter(s, 3, 2);
  assert.deepEqual(page.events.map((e) => e.seq), [4, 7, 9]);
  assert.equal(page.more, true);
  page = log.readMessagesAfter(s, 9, 2);
  assert.deepEqual(page.events.map((e) => e.seq), [10]);
  assert.equal(page.more, false);
  close();
});

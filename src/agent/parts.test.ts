// The agent's pure parts: delta coalescing, named keys, bounded tool results, history from events, waits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { DeltaCoalescer, splitUtf8 } from './coalesce.ts';
import { HistoryBuilder, toModelMessages, UNANSWERED_CALL } from './history.ts';
import { keyBytes, keyName } from './keys.ts';
import { FakeTerminals } from './test-support.ts';
import { boundResult } from './tools.ts';
import { compilePattern, waitForTerminal } from './wait.ts';

test('coalescer: chunks bounded in bytes, flushed after the delay, each character emitted once', () => {
  const clock = new FakeClock();
  const out: string[] = [];
  const c = new DeltaCoalescer((t) => out.push(t), clock, { maxBytes: 10, maxDelayMs: 50 });
  c.push('abc');
  c.push('de');
  assert.deepEqual(out, []);
  clock.advance(49);
  assert.deepEqual(out, []);
  clock.advance(1);
  assert.deepEqual(out, ['abcde']);
  c.push('ééééééé'); // 14 bytes: a full 10-byte chunk (5 é) goes at once, the rest waits
  assert.deepEqual(out, ['abcde', 'ééééé']);
  assert.equal(clock.pendingTimers, 1);
  c.dispose();
  assert.deepEqual(out, ['abcde', 'ééééé', 'éé']);
  assert.equal(clock.pendingTimers, 0, 'no timer left after dispose');
  c.push('late');
  assert.equal(out.length, 3);
  assert.equal(c.chars, 5 + 7);
  for (const s of out) assert.ok(Buffer.byteLength(s) <= 10);
});

test('splitUtf8 never cuts a character', () => {
  assert.deepEqual(splitUtf8('a😀b', 2), ['a', '😀b']);
  assert.deepEqual(splitUtf8('a😀b', 5), ['a😀', 'b']);
  assert.deepEqual(splitUtf8('日本', 4), ['日', '本']);
  assert.deepEqual(splitUtf8('abc', 0), ['', 'abc']);
});

test('keys: names, aliases and control characters', () => {
  assert.equal(keyBytes('Enter'), '\r');
  assert.equal(keyBytes('enter'), '\r');
  assert.equal(keyBytes('Ctrl+C'), '\x03');
  assert.equal(keyBytes('ctrl-d'), '\x04');
  assert.equal(keyBytes('^C'), '\x03');
  assert.equal(keyBytes('ArrowUp'), '\x1b[A');
  assert.equal(keyBytes('Escape'), '\x1b');
  assert.equal(keyBytes('Backspace'), '\x7f');
  assert.equal(keyBytes('Tab'), '\t');
  assert.equal(keyName('Left'), 'Left');
  assert.throws(() => keyBytes('Hyper+Q'), /unknown key "Hyper\+Q"; valid keys: Enter, Tab/);
});

test('boundResult: within the byte bound, with a visible marker; screens keep their end', () => {
  const text = Array.from({ length: 500 }, (_, i) => `line ${i} ✓`).join('\n');
  const head = boundResult(text, 1_000, 'head');
  assert.equal(head.truncated, true);
  assert.ok(Buffer.byteLength(head.text) <= 1_000);
  assert.ok(head.text.startsWith('line 0 ✓'));
  assert.match(head.text, /\[… truncated: \d+ of \d+ bytes left out …\]$/);
  const tail = boundResult(text, 1_000, 'tail');
  assert.ok(Buffer.byteLength(tail.text) <= 1_000);
  assert.ok(tail.text.endsWith('line 499 ✓'));
  assert.match(tail.text, /^\[… truncated: \d+ of \d+ bytes left out …\]\nline \d+ ✓/, 'cut on a line boundary');
  assert.deepEqual(boundResult('short', 1_000), { text: 'short', truncated: false });
});

test('history: events become model messages; a call left without a result is answered with an error', () => {
  const b = new HistoryBuilder();
  b.add({ type: 'user_message', text: 'hi' }, 'e1');
  b.add({ type: 'turn', state: 'started' });
  b.add({ type: 'assistant_delta', messageId: 'm1', text: 'Let me ' });
  b.add({ type: 'assistant_delta', messageId: 'm1', text: 'check.' });
  b.add({ type: 'assistant_done', messageId: 'm1', chars: 13 });
  b.add({ type: 'tool_call', callId: 'c1', name: 'terminal_list', args: {} });
  b.add({ type: 'tool_call', callId: 'c2', name: 'terminal_read', args: '{"bad' });
  b.add({ type: 'tool_result', callId: 'c1', name: 'terminal_list', result: '[]', truncated: false, isError: false });
  b.add({ type: 'tool_call', callId: 'c3', name: 'terminal_wait', args: { terminalId: 't' } });
  b.add({ type: 'turn', state: 'cancelled' });
  b.add({ type: 'user_message', text: 'again' }, 'e9');
  const ms = b.messages();
  assert.deepEqual(ms.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant', 'tool', 'user']);
  const tool = ms[2] as Extract<(typeof ms)[number], { role: 'tool' }>;
  assert.deepEqual(tool.results.map((r) => [r.id, r.isError]), [['c1', false], ['c2', true]]);
  assert.equal(tool.results[1]!.output, UNANSWERED_CALL);
  const sdk = toModelMessages(ms);
  assert.deepEqual(sdk[1], {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Let me check.' },
      { type: 'tool-call', toolCallId: 'c1', toolName: 'terminal_list', input: {} },
      { type: 'tool-call', toolCallId: 'c2', toolName: 'terminal_read', input: { invalid_arguments: '{"bad' } },
    ],
  });
  assert.deepEqual((sdk[4] as { content: unknown[] }).content[0], { type: 'tool-result', toolCallId: 'c3', toolName: 'terminal_wait', output: { type: 'error-text', value: UNANSWERED_CALL } });
});

test('wait: quiet, pattern, exit, timeout; abort ends it at once', async () => {
  const terms = new FakeTerminals();
  const t = terms.create({ cols: 80, rows: 24 }).id;
  const never = new AbortController().signal;
  assert.equal((await waitForTerminal(terms, { terminalId: t, quietMs: 100, timeoutMs: 5_000 }, never)).reason, 'quiet');

  setTimeout(() => terms.print(t, 'npm test\n12 tests passed\n$ '), 100);
  const m = await waitForTerminal(terms, { terminalId: t, pattern: compilePattern('tests? (passed|failed)'), timeoutMs: 5_000 }, never);
  assert.equal(m.reason, 'pattern');
  assert.equal(m.match, '12 tests passed');

  assert.equal((await waitForTerminal(terms, { terminalId: t, pattern: /nope/, timeoutMs: 150 }, never)).reason, 'timeout');

  setTimeout(() => terms.exit(t), 100);
  assert.equal((await waitForTerminal(terms, { terminalId: t, pattern: /nope/, timeoutMs: 5_000 }, never)).reason, 'exited');

  const t2 = terms.create({ cols: 80, rows: 24 }).id;
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('stop')), 100);
  const t0 = performance.now();
  await assert.rejects(waitForTerminal(terms, { terminalId: t2, pattern: /nope/, timeoutMs: 60_000 }, ac.signal));
  assert.ok(performance.now() - t0 < 1_000);
});

test('wait: a catastrophic pattern is stopped, not the event loop', async () => {
  const terms = new FakeTerminals();
  const t = terms.create({ cols: 80, rows: 24 }).id;
  terms.print(t, 'a'.repeat(40) + '!');
  const t0 = performance.now();
  await assert.rejects(waitForTerminal(terms, { terminalId: t, pattern: compilePattern('(a+)+$'), timeoutMs: 5_000 }, new AbortController().signal), /took more than/);
  assert.ok(performance.now() - t0 < 2_000);
  assert.throws(() => compilePattern('(unclosed'), /invalid pattern/);
});

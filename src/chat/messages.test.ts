import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentEventPayload, StoredEvent } from '../stream/events.ts';
import { foldMessages, toMarkdown } from './messages.ts';

function events(...payloads: AgentEventPayload[]): StoredEvent[] {
  return payloads.map((payload, i) => ({ seq: i + 1, sessionId: 's', at: 1_700_000_000_000 + i * 1000, payload }));
}

test('foldMessages: user, assistant (deltas joined), interleaved tool call with result, error, cancelled turn', () => {
  const msgs = foldMessages(
    events(
      { type: 'user_message', text: 'run the tests' },
      { type: 'turn', state: 'started', model: 'm' },
      { type: 'assistant_delta', messageId: 'a1', text: 'Run' },
      { type: 'tool_call', callId: 'c1', name: 'terminal_write', args: { text: 'npm test' }, terminalId: 't1' },
      { type: 'assistant_delta', messageId: 'a1', text: 'ning.' },
      { type: 'assistant_done', messageId: 'a1', chars: 8 },
      { type: 'tool_result', callId: 'c1', name: 'terminal_write', result: 'ok', truncated: false, isError: false },
      { type: 'error', code: 'model_error', message: 'rate limited' },
      { type: 'turn', state: 'cancelled', reason: 'user' },
      { type: 'turn', state: 'finished' },
    ),
  );
  assert.deepEqual(
    msgs.map((m) => [m.id, m.kind]),
    [
      [1, 'user'],
      [3, 'assistant'],
      [4, 'tool'],
      [8, 'error'],
      [9, 'turn'],
    ],
  );
  const a = msgs[1]!;
  assert.ok(a.kind === 'assistant' && a.text === 'Running.' && a.done);
  const t = msgs[2]!;
  assert.ok(t.kind === 'tool');
  assert.deepEqual(t.args, { text: 'npm test' });
  assert.equal(t.terminalId, 't1');
  assert.deepEqual(t.result, { text: 'ok', truncated: false, isError: false });
  assert.equal(msgs[0]!.at, new Date(1_700_000_000_000).toISOString());
});

test('foldMessages: a result whose call was cut by retention, an unfinished assistant message', () => {
  const msgs = foldMessages(events({ type: 'tool_result', callId: 'c', name: 'n', result: 'r', truncated: true, isError: true }, { type: 'assistant_delta', messageId: 'a', text: 'part' }));
  assert.equal(msgs.length, 2);
  assert.ok(msgs[0]!.kind === 'tool' && msgs[0]!.result?.truncated);
  assert.ok(msgs[1]!.kind === 'assistant' && !msgs[1]!.done && msgs[1]!.text === 'part');
});

test('toMarkdown: headings per message, fences longer than any backtick run inside', () => {
  const msgs = foldMessages(
    events(
      { type: 'user_message', text: 'hi' },
      { type: 'assistant_delta', messageId: 'a', text: 'hello' },
      { type: 'assistant_done', messageId: 'a', chars: 5 },
      { type: 'tool_call', callId: 'c', name: 'terminal_read', args: {} },
      { type: 'tool_result', callId: 'c', name: 'terminal_read', result: 'has ``` and ```` inside', truncated: true, isError: false },
      { type: 'turn', state: 'failed', reason: 'turn_timeout' },
    ),
  );
  const md = toMarkdown({ id: 'sid', title: 'My\nchat', createdAt: 'c', updatedAt: 'u' }, msgs, new Date(0));
  assert.match(md, /^# My chat\n/);
  assert.match(md, /## You \(.*\)\n\nhi\n/);
  assert.match(md, /## Assistant \(.*\)\n\nhello\n/);
  assert.match(md, /### Tool call: terminal_read/);
  assert.match(md, /Result \(truncated\):\n\n`````\nhas ``` and ```` inside\n`````/);
  assert.match(md, /> _Turn failed: turn_timeout_/);
});

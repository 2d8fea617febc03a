import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser, closingFrame, messageFrame, openingFrame, resumePoint, stateFrame } from './sse-format.ts';

test('resumePoint: Last-Event-ID wins over ?from=, absent means live only, garbage is null', () => {
  assert.equal(resumePoint(undefined, undefined), undefined);
  assert.equal(resumePoint('', ''), undefined);
  assert.equal(resumePoint(undefined, '0'), 0);
  assert.equal(resumePoint(undefined, '42'), 42);
  assert.equal(resumePoint('17', '42'), 17);
  assert.equal(resumePoint(' 17 ', undefined), 17);
  assert.equal(resumePoint(['9', '10'], undefined), 9);
  assert.equal(resumePoint('', '5'), 5);
  assert.equal(resumePoint('abc', undefined), null);
  assert.equal(resumePoint(undefined, '-1'), null);
  assert.equal(resumePoint(undefined, '1.5'), null);
  assert.equal(resumePoint(undefined, '9999999999999999'), null);
});

test('frames round-trip through the parser; state frames carry no id', () => {
  const got: { id: string | undefined; event: string; data: string }[] = [];
  const comments: string[] = [];
  const p = new SseParser((e) => got.push(e), (c) => comments.push(c));
  const e = { seq: 7, sessionId: 's', at: 1, payload: { type: 'user_message' as const, text: 'two\nlines "quoted"' } };
  const all = openingFrame('abc', 1500) + stateFrame({ busySessions: [] }) + messageFrame(e) + ':\n\n' + closingFrame('max_lifetime', 1000);
  // Fed in awkward pieces, as TCP delivers them.
  for (let i = 0; i < all.length; i += 7) p.push(all.slice(i, i + 7));
  assert.deepEqual(comments, ['keel stream abc', '', 'end max_lifetime']);
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], { id: undefined, event: 'state', data: '{"busySessions":[]}' });
  assert.equal(got[1]!.id, '7');
  assert.equal(got[1]!.event, 'message');
  assert.deepEqual(JSON.parse(got[1]!.data), e);
  assert.match(openingFrame('x', 1500), /^retry: 1500\n/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from './clock.ts';
import { TokenBucket } from './rate-limiter.ts';

test('TokenBucket allows a burst of capacity, then refills at its rate, never above capacity', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(5, 2, clock);
  for (let i = 0; i < 5; i++) assert.equal(b.take(), true);
  assert.equal(b.take(), false);
  clock.advance(500);
  assert.equal(b.take(), true, 'one token after 0.5 s at 2/s');
  assert.equal(b.take(), false);
  clock.advance(60_000);
  assert.equal(b.tokens, 5);
  assert.equal(b.take(6), false, 'taking more than available takes nothing');
  assert.equal(b.tokens, 5);
  assert.equal(b.take(5), true);
});

test('TokenBucket rejects non-positive parameters', () => {
  assert.throws(() => new TokenBucket(0, 1), RangeError);
  assert.throws(() => new TokenBucket(1, 0), RangeError);
});

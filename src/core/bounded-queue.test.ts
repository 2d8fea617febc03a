import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedQueue } from './bounded-queue.ts';

test('refuses a push past the byte limit and adds nothing', () => {
  const q = new BoundedQueue<Buffer>({ maxBytes: 10, maxItems: 100 });
  assert.equal(q.push(Buffer.alloc(6)), true);
  assert.equal(q.push(Buffer.alloc(4)), true);
  assert.equal(q.bytes, 10);
  assert.equal(q.push(Buffer.alloc(1)), false);
  assert.equal(q.bytes, 10);
  assert.equal(q.length, 2);
  assert.equal(q.refused, 1);
  assert.equal(q.fits(0), true, 'a zero-byte item still fits by bytes');
});

test('refuses a push past the count limit', () => {
  const q = new BoundedQueue<string>({ maxBytes: 1_000_000, maxItems: 3 });
  for (let i = 0; i < 3; i++) assert.equal(q.push('x'), true);
  assert.equal(q.push('y'), false);
  assert.equal(q.length, 3);
  q.shift();
  assert.equal(q.push('y'), true);
});

test('a single item larger than the byte limit is refused even when empty', () => {
  const q = new BoundedQueue<string>({ maxBytes: 4, maxItems: 10 });
  assert.equal(q.push('hello'), false);
  assert.equal(q.isEmpty, true);
});

test('string sizes are UTF-8 bytes', () => {
  const q = new BoundedQueue<string>({ maxBytes: 100, maxItems: 10 });
  q.push('é€😀');
  assert.equal(q.bytes, 2 + 3 + 4);
});

test('the byte count is exact through push, shift, drain and clear (driven many times past the limit)', () => {
  const q = new BoundedQueue<Uint8Array>({ maxBytes: 5000, maxItems: 300 });
  let expected = 0;
  const inQueue: number[] = [];
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    if (rnd() < 0.6) {
      const size = Math.floor(rnd() * 64);
      if (q.push(new Uint8Array(size))) {
        expected += size;
        inQueue.push(size);
      } else assert.ok(expected + size > 5000 || inQueue.length >= 300, 'refused only when full');
    } else {
      const item = q.shift();
      if (item) expected -= inQueue.shift()!;
      else assert.equal(inQueue.length, 0);
    }
    if (i % 5000 === 4999) {
      const all = q.drain();
      assert.equal(all.reduce((n, b) => n + b.byteLength, 0), expected);
      expected = 0;
      inQueue.length = 0;
    }
    assert.equal(q.bytes, expected);
    assert.equal(q.length, inQueue.length);
  }
  q.clear();
  assert.equal(q.bytes, 0);
  assert.equal(q.length, 0);
});

test('FIFO order survives compaction', () => {
  const q = new BoundedQueue<string>({ maxBytes: 1_000_000, maxItems: 10_000 });
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 3000; i++) assert.ok(q.push(String(next++)));
    for (let i = 0; i < 2500; i++) assert.equal(q.shift(), String(expect++));
  }
  assert.equal(q.peek(), String(expect));
  assert.deepEqual(q.drain().map(Number), Array.from({ length: next - expect }, (_, i) => expect + i));
  assert.equal(q.shift(), undefined);
});

test('custom sizeOf; limits must be positive; objects need sizeOf', () => {
  const q = new BoundedQueue<{ n: number }>({ maxBytes: 10, maxItems: 10, sizeOf: (x) => x.n });
  assert.ok(q.push({ n: 7 }));
  assert.equal(q.push({ n: 4 }), false);
  assert.throws(() => new BoundedQueue({ maxBytes: 0, maxItems: 1 }), RangeError);
  assert.throws(() => new BoundedQueue({ maxBytes: 1, maxItems: 0 }), RangeError);
  const bad = new BoundedQueue<object>({ maxBytes: 10, maxItems: 10 });
  assert.throws(() => bad.push({}), TypeError);
});

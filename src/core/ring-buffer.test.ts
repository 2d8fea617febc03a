import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingBuffer } from './ring-buffer.ts';

test('RingBuffer keeps the last capacity items, oldest first, counting overwrites', () => {
  const r = new RingBuffer<number>(3);
  assert.deepEqual(r.toArray(), []);
  assert.equal(r.last(), undefined);
  for (let i = 1; i <= 7; i++) r.push(i);
  assert.deepEqual(r.toArray(), [5, 6, 7]);
  assert.equal(r.length, 3);
  assert.equal(r.last(), 7);
  assert.equal(r.overwritten, 4);
});

test('RingBuffer below capacity and with capacity 1', () => {
  const r = new RingBuffer<string>(5);
  r.push('a');
  r.push('b');
  assert.deepEqual(r.toArray(), ['a', 'b']);
  const one = new RingBuffer<string>(1);
  one.push('x');
  one.push('y');
  assert.deepEqual(one.toArray(), ['y']);
  assert.throws(() => new RingBuffer(0), RangeError);
  assert.throws(() => new RingBuffer(2.5), RangeError);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from './clock.ts';
import { TtlMap, type EvictionReason } from './ttl-map.ts';

function make(opts: { maxEntries?: number; idleTtlMs?: number; sweepIntervalMs?: number } = {}) {
  const clock = new FakeClock();
  const evicted: [string, number, EvictionReason][] = [];
  const map = new TtlMap<string, number>({
    maxEntries: opts.maxEntries ?? 3,
    idleTtlMs: opts.idleTtlMs ?? 0,
    sweepIntervalMs: opts.sweepIntervalMs,
    clock,
    onEvict: (k, v, r) => evicted.push([k, v, r]),
  });
  return { clock, map, evicted };
}

test('evicts the least recently used entry past maxEntries (reason capacity)', () => {
  const { map, evicted } = make({ maxEntries: 3 });
  map.set('a', 1).set('b', 2).set('c', 3);
  map.get('a'); // a is now the most recently used
  map.set('d', 4);
  assert.deepEqual(evicted, [['b', 2, 'capacity']]);
  assert.deepEqual([...map.entries()].map(([k]) => k), ['c', 'a', 'd']);
  map.peek('c'); // peek does not touch
  map.set('e', 5);
  assert.deepEqual(evicted.at(-1), ['c', 3, 'capacity']);
  assert.equal(map.size, 3);
  assert.equal(map.evictions, 2);
});

test('re-setting a key replaces it without eviction', () => {
  const { map, evicted } = make({ maxEntries: 2 });
  map.set('a', 1).set('b', 2).set('a', 3);
  assert.deepEqual(evicted, []);
  assert.equal(map.peek('a'), 3);
});

test('idle entries are swept after the TTL (reason expired); reads and writes reset the idle age', () => {
  const { clock, map, evicted } = make({ maxEntries: 10, idleTtlMs: 10_000, sweepIntervalMs: 1_000 });
  map.set('idle', 1).set('busy', 2);
  for (let i = 0; i < 12; i++) {
    clock.advance(1_000);
    map.get('busy');
  }
  assert.deepEqual(evicted, [['idle', 1, 'expired']]);
  assert.equal(map.has('busy'), true);
  clock.advance(10_000);
  assert.deepEqual(evicted.at(-1), ['busy', 2, 'expired']);
  assert.equal(map.size, 0);
});

test('delete removes without onEvict', () => {
  const { map, evicted } = make();
  map.set('a', 1);
  assert.equal(map.delete('a'), true);
  assert.deepEqual(evicted, []);
});

test('dispose stops the sweeper (no pending timer) and evicts every entry (reason disposed)', () => {
  const { clock, map, evicted } = make({ maxEntries: 10, idleTtlMs: 5_000 });
  assert.equal(clock.pendingTimers, 1, 'one sweeper');
  map.set('a', 1).set('b', 2);
  map.dispose();
  map.dispose();
  assert.equal(clock.pendingTimers, 0);
  assert.deepEqual(evicted, [['a', 1, 'disposed'], ['b', 2, 'disposed']]);
  assert.throws(() => map.set('c', 3), /disposed/);
});

test('no TTL means no sweeper timer at all', () => {
  const { clock, map } = make({ idleTtlMs: 0 });
  assert.equal(clock.pendingTimers, 0);
  assert.equal(map.sweep(), 0);
  map.dispose();
});

test('rejects a non-positive maxEntries', () => {
  assert.throws(() => new TtlMap({ maxEntries: 0, idleTtlMs: 0 }), RangeError);
});

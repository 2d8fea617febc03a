/**
 * The idle collector (issue 12): one full collection once Keel goes quiet with garbage in its heap;
 * never while it is busy, never twice for the same quiet period. Driven by a fake clock with the
 * heap and the event-loop utilisation injected; the last test runs the real collection.
 */
import assert from 'node:assert/strict';
import type { EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import { describe, it } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { IDLE_ELU, IDLE_GC_MIN_GROWTH_BYTES, IdleCollector } from './idle-gc.ts';

const MB = 1024 * 1024;

function rig() {
  const clock = new FakeClock();
  const s = { used: 20 * MB, elu: 0, collections: 0 };
  const gc = new IdleCollector({
    intervalMs: 10_000,
    clock,
    heapUsed: () => s.used,
    // The fraction since `prev` is whatever the test set for this interval.
    utilization: (prev?: EventLoopUtilization) => ({ idle: 0, active: 0, utilization: prev ? s.elu : 0 }),
    gc: () => {
      s.collections++;
      s.used = 20 * MB;
    },
  });
  return { clock, s, gc };
}

describe('observe: idle garbage collection', () => {
  it('collects once when the heap grew and the loop went quiet', () => {
    const { clock, s, gc } = rig();
    s.used += 5 * MB;
    s.elu = 0.01;
    clock.advance(10_000);
    assert.equal(s.collections, 1);
    // Quiet on: nothing grew since, so no second collection.
    clock.advance(30_000);
    assert.equal(s.collections, 1);
    assert.equal(gc.runs, 1);
    gc.dispose();
  });

  it('never while the event loop is busy, however much the heap grew', () => {
    const { clock, s, gc } = rig();
    s.used += 50 * MB;
    s.elu = IDLE_ELU + 0.01;
    clock.advance(60_000);
    assert.equal(s.collections, 0);
    // Busy until now; the next quiet interval collects.
    s.elu = 0;
    clock.advance(10_000);
    assert.equal(s.collections, 1);
    gc.dispose();
  });

  it('not for growth under the threshold', () => {
    const { clock, s, gc } = rig();
    s.used += IDLE_GC_MIN_GROWTH_BYTES - 1;
    clock.advance(60_000);
    assert.equal(s.collections, 0);
    gc.dispose();
  });

  it('the real collection frees garbage of a burst', () => {
    const clock = new FakeClock();
    const gc = new IdleCollector({ intervalMs: 1_000, clock, utilization: () => ({ idle: 1, active: 0, utilization: 0 }) });
    // A burst: ~20 MB of short-lived objects, dropped.
    let junk: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `garbage ${i}`.repeat(8) }));
    const before = v8.getHeapStatistics().used_heap_size;
    junk = undefined;
    assert.equal(junk, undefined);
    clock.advance(1_000);
    assert.equal(gc.runs, 1);
    const after = v8.getHeapStatistics().used_heap_size;
    assert.ok(after < before - 10 * MB, `heap used ${(before / MB).toFixed(1)} → ${(after / MB).toFixed(1)} MB`);
    gc.dispose();
  });
});

/**
 * A full garbage collection once Keel goes quiet after work. V8 collects its old generation when
 * allocation pushes it to a limit; a server that goes idle after a burst (300 terminals opened and
 * closed, a document session) allocates nothing more, so the garbage of the burst, and the native
 * memory its dead sockets and handles still hold, stays resident until the next burst: measured
 * +6.8 MB of heap 30 s after 300 terminal cycles. So every `intervalMs`, if the event loop was
 * nearly idle since the last look and the heap holds more than `minGrowthBytes` above what the
 * last collection left, one collection runs (10-30 ms, while nothing is waiting). A busy server
 * is never collected by this, and an idle one at most once per quiet period.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Clock } from '../core/clock.ts';
import type { Disposable } from '../core/lifecycle.ts';

/** Event-loop utilisation below this since the last look counts as idle. */
export const IDLE_ELU = 0.05;
/** Heap growth since the last collection that makes one worth running. */
export const IDLE_GC_MIN_GROWTH_BYTES = 1024 * 1024;

type GcFn = (o?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;
let gcFn: GcFn | undefined;
/**
 * V8's gc() without exposing it to Keel's own global scope: the flag makes new contexts get it,
 * and only this private context is made. The "last-resort" flavour is V8's memory-reducing
 * collection (what it runs under memory pressure): it also compacts, shrinks the young generation
 * and gives emptied pages back, where a regular one keeps them for the next allocations.
 */
function collector(): () => void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as GcFn;
  }
  const gc = gcFn;
  return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

export interface IdleGcOptions {
  intervalMs: number;
  clock: Clock;
  minGrowthBytes?: number;
  /** Test hooks. */
  heapUsed?: () => number;
  utilization?: (prev?: EventLoopUtilization) => EventLoopUtilization;
  gc?: () => void;
  onCollect?: (freedBytes: number, ms: number) => void;
}

export class IdleCollector implements Disposable {
  readonly #o: IdleGcOptions;
  readonly #timer: Disposable;
  #elu: EventLoopUtilization;
  #afterLast: number;
  /** Collections run since start. */
  runs = 0;

  constructor(o: IdleGcOptions) {
    this.#o = o;
    this.#elu = this.#utilization();
    this.#afterLast = this.#heapUsed();
    this.#timer = o.clock.setInterval(() => this.check(), o.intervalMs);
  }

  #heapUsed(): number {
    return this.#o.heapUsed ? this.#o.heapUsed() : v8.getHeapStatistics().used_heap_size;
  }

  #utilization(prev?: EventLoopUtilization): EventLoopUtilization {
    return this.#o.utilization ? this.#o.utilization(prev) : performance.eventLoopUtilization(prev);
  }

  /** One look (the timer calls it); true when it collected. */
  check(): boolean {
    const since = this.#utilization(this.#elu);
    this.#elu = this.#utilization();
    const used = this.#heapUsed();
    // The heap can also shrink by itself (a major GC ran): measure growth from the lowest point.
    if (used < this.#afterLast) this.#afterLast = used;
    if (since.utilization >= IDLE_ELU || used - this.#afterLast < (this.#o.minGrowthBytes ?? IDLE_GC_MIN_GROWTH_BYTES)) return false;
    const t0 = performance.now();
    (this.#o.gc ?? collector())();
    this.runs++;
    this.#afterLast = this.#heapUsed();
    // The collection itself is not activity: the next look starts from here.
    this.#elu = this.#utilization();
    this.#o.onCollect?.(used - this.#afterLast, performance.now() - t0);
    return true;
  }

  dispose(): void {
    this.#timer.dispose();
  }
}

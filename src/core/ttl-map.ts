import { systemClock, type Clock } from './clock.ts';
import type { Disposable } from './lifecycle.ts';

export type EvictionReason = 'expired' | 'capacity' | 'disposed';

export interface TtlMapOptions<K, V> {
  /** Most entries kept; inserting past it evicts the least recently used one (reason `capacity`). */
  maxEntries: number;
  /** An entry not read or written for this long is evicted by the sweeper (reason `expired`). 0 = never. */
  idleTtlMs: number;
  /** How often the sweeper runs; defaults to idleTtlMs / 4, at least 1 s. */
  sweepIntervalMs?: number;
  /** Called after an entry leaves the map by eviction (not by `delete`). */
  onEvict?: (key: K, value: V, reason: EvictionReason) => void;
  clock?: Clock;
}

/**
 * A map bounded by entry count (LRU) and idle age, swept by an unref'd timer owned by the map.
 * Disposing the map stops the sweeper and evicts every entry (reason `disposed`).
 */
export class TtlMap<K, V> implements Disposable {
  readonly maxEntries: number;
  readonly idleTtlMs: number;
  readonly #onEvict: ((key: K, value: V, reason: EvictionReason) => void) | undefined;
  readonly #clock: Clock;
  // Map iteration order is insertion order; a touched entry is re-inserted, so the first key is the LRU one.
  readonly #entries = new Map<K, { value: V; lastUsed: number }>();
  #sweeper: Disposable | undefined;
  #disposed = false;
  #evictions = 0;

  constructor(opts: TtlMapOptions<K, V>) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1) throw new RangeError('TtlMap maxEntries must be a positive integer');
    this.maxEntries = opts.maxEntries;
    this.idleTtlMs = opts.idleTtlMs;
    this.#onEvict = opts.onEvict;
    this.#clock = opts.clock ?? systemClock;
    if (opts.idleTtlMs > 0) {
      const every = opts.sweepIntervalMs ?? Math.max(1000, Math.floor(opts.idleTtlMs / 4));
      this.#sweeper = this.#clock.setInterval(() => this.sweep(), every);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
  get evictions(): number {
    return this.#evictions;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Reads and touches (resets idle age, marks most recently used). */
  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    e.lastUsed = this.#clock.now();
    this.#entries.set(key, e);
    return e.value;
  }

  /** Reads without touching. */
  peek(key: K): V | undefined {
    return this.#entries.get(key)?.value;
  }

  set(key: K, value: V): this {
    if (this.#disposed) throw new Error('TtlMap is disposed');
    this.#entries.delete(key);
    this.#entries.set(key, { value, lastUsed: this.#clock.now() });
    while (this.#entries.size > this.maxEntries) {
      const [k, e] = this.#entries.entries().next().value as [K, { value: V }];
      this.#evict(k, e.value, 'capacity');
    }
    return this;
  }

  /** Removes without calling onEvict. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, e] of this.#entries) yield [k, e.value];
  }

  /** Evicts every entry idle for longer than the TTL; returns how many. */
  sweep(): number {
    if (this.idleTtlMs <= 0) return 0;
    const cutoff = this.#clock.now() - this.idleTtlMs;
    let n = 0;
    for (const [k, e] of [...this.#entries]) {
      if (e.lastUsed <= cutoff) {
        this.#evict(k, e.value, 'expired');
        n++;
      }
    }
    return n;
  }

  #evict(key: K, value: V, reason: EvictionReason): void {
    this.#entries.delete(key);
    this.#evictions++;
    this.#onEvict?.(key, value, reason);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#sweeper?.dispose();
    this.#sweeper = undefined;
    for (const [k, e] of [...this.#entries]) this.#evict(k, e.value, 'disposed');
  }
}

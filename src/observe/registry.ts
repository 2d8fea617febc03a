/**
 * Where subsystems report what they hold, so /debug/memory, /metrics and the start-up budget stay
 * generic: each subsystem registers its connection counters, its stats and its worst-case bytes.
 */
import type { SlotLimiter } from '../core/slot-limiter.ts';

export interface ConnectionStat {
  /** Key stem in /debug/memory `connections` (e.g. `terminal_sessions` → also `max_terminal_sessions`). */
  name: string;
  count: () => number;
  max: number;
}

/** Memory a subsystem holds outside the main V8 heap that the process cannot see by itself (worker isolates). */
export interface MemoryPart {
  /** Bytes, as of the last refresh. */
  read(): number;
  /** Updates what `read` returns (e.g. asks each worker for its heap statistics). */
  refresh?(): Promise<void>;
}

export class ObserveRegistry {
  readonly #connections = new Map<string, ConnectionStat>();
  readonly #memoryParts = new Map<string, MemoryPart>();
  readonly #subsystems = new Map<string, () => Record<string, number | string | boolean>>();
  readonly #budgets = new Map<string, { bytes: number; note: string }>();

  /** Adds a connection counter; a SlotLimiter can be given directly. */
  addConnections(stat: ConnectionStat | SlotLimiter, name?: string): void {
    if ('count' in stat) this.#connections.set(stat.name, stat);
    else {
      const limiter = stat;
      const key = name ?? limiter.kind;
      this.#connections.set(key, { name: key, count: () => limiter.inUse, max: limiter.max });
    }
  }

  /** Stats shown under `subsystems.<name>` (numbers become `keel_<name>_<stat>` gauges). */
  addSubsystem(name: string, stats: () => Record<string, number | string | boolean>): void {
    this.#subsystems.set(name, stats);
  }

  /** Worst-case bytes a subsystem may hold, computed from its limits; `note` says how. */
  addBudget(name: string, bytes: number, note: string): void {
    this.#budgets.set(name, { bytes, note });
  }

  /** A worker isolate's heap, counted in /debug/memory `memory.breakdown.workers` (terminal mirrors, the document worker). */
  addMemoryPart(name: string, part: MemoryPart): void {
    this.#memoryParts.set(name, part);
  }

  memoryParts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, p] of this.#memoryParts) out[name] = p.read();
    return out;
  }

  /** Refreshes every part (bounded by the caller's request; a part that fails keeps its last value). */
  async refreshMemoryParts(): Promise<void> {
    await Promise.allSettled([...this.#memoryParts.values()].map((p) => p.refresh?.()));
  }

  connections(): ConnectionStat[] {
    return [...this.#connections.values()];
  }

  subsystems(): Record<string, Record<string, number | string | boolean>> {
    const out: Record<string, Record<string, number | string | boolean>> = {};
    for (const [name, fn] of this.#subsystems) out[name] = fn();
    return out;
  }

  budgets(): Record<string, { bytes: number; note: string }> {
    return Object.fromEntries(this.#budgets);
  }

  budgetTotalBytes(): number {
    let t = 0;
    for (const b of this.#budgets.values()) t += b.bytes;
    return t;
  }
}

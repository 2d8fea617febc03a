import { systemClock, type Clock } from '../core/clock.ts';
import { RingBuffer } from '../core/ring-buffer.ts';

export interface AuditEntry {
  at: string;
  /** What kind of cleanup: `trim`, `evict`, `close`, `shed`, `recover`, `reap`, ... */
  kind: string;
  /** Which subsystem did it. */
  subsystem: string;
  detail: string;
}

/** Every cleanup and trim Keel performs, newest last, bounded by `auditLogEntries`. */
export class AuditLog {
  readonly #ring: RingBuffer<AuditEntry>;
  readonly #clock: Clock;
  #total = 0;

  constructor(capacity: number, clock: Clock = systemClock) {
    this.#ring = new RingBuffer(capacity);
    this.#clock = clock;
  }

  record(subsystem: string, kind: string, detail: string): void {
    this.#total++;
    this.#ring.push({ at: new Date(this.#clock.now()).toISOString(), kind, subsystem, detail: detail.slice(0, 500) });
  }

  get total(): number {
    return this.#total;
  }

  entries(): AuditEntry[] {
    return this.#ring.toArray();
  }
}

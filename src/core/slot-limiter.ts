import { TooManyConnectionsError } from './errors.ts';
import type { Disposable } from './lifecycle.ts';

/** A held slot. Disposing it returns the slot; disposing twice is harmless. */
export interface Slot extends Disposable {
  readonly kind: string;
}

/**
 * Caps concurrent connections of one kind. A slot is a lease: `acquire` hands out a disposable,
 * and the count goes down exactly once when it is disposed, whoever disposes it.
 * At the cap, `acquire` throws `TooManyConnectionsError` (HTTP 503, WebSocket 1013).
 */
export class SlotLimiter {
  readonly kind: string;
  readonly option: string | undefined;
  #max: number;
  #inUse = 0;
  #refused = 0;
  /** Optional admission check run before counting (the health monitor's load shedding). */
  readonly #admit: (() => void) | undefined;

  constructor(kind: string, max: number, opts: { option?: string; admit?: () => void } = {}) {
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`slot limit for ${kind} must be a non-negative integer`);
    this.kind = kind;
    this.#max = max;
    this.option = opts.option;
    this.#admit = opts.admit;
  }

  get max(): number {
    return this.#max;
  }
  get inUse(): number {
    return this.#inUse;
  }
  /** Refusals since start (a counter for metrics, not a growing structure). */
  get refused(): number {
    return this.#refused;
  }

  tryAcquire(): Slot | undefined {
    try {
      return this.acquire();
    } catch {
      return undefined;
    }
  }

  acquire(): Slot {
    try {
      this.#admit?.();
    } catch (err) {
      this.#refused++;
      throw err;
    }
    if (this.#inUse >= this.#max) {
      this.#refused++;
      throw new TooManyConnectionsError(this.kind, this.#max, this.option);
    }
    this.#inUse++;
    let held = true;
    return {
      kind: this.kind,
      dispose: () => {
        if (!held) return;
        held = false;
        this.#inUse--;
      },
    };
  }
}

/**
 * Time as a dependency, so TTL, idle and lease logic can be tested without sleeping.
 * Timers from `systemClock` are unref'd: a sweeper must never keep the process alive.
 */
import { toDisposable, type Disposable } from './lifecycle.ts';

export interface Clock {
  now(): number;
  /** Runs `fn` every `ms`; the timer is unref'd and stops when the returned disposable is disposed. */
  setInterval(fn: () => void, ms: number): Disposable;
  /** Runs `fn` once after `ms`; unref'd; disposing cancels it. */
  setTimeout(fn: () => void, ms: number): Disposable;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return toDisposable(() => clearInterval(t));
  },
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return toDisposable(() => clearTimeout(t));
  },
};

interface FakeTimer {
  id: number;
  due: number;
  every: number | null;
  fn: () => void;
}

/** A clock whose time moves only when the test calls `advance`. */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<number, FakeTimer>();
  #nextId = 1;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Pending timers (for leak assertions). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  setInterval(fn: () => void, ms: number): Disposable {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  setTimeout(fn: () => void, ms: number): Disposable {
    return this.#add(fn, ms, null);
  }

  #add(fn: () => void, ms: number, every: number | null): Disposable {
    const id = this.#nextId++;
    this.#timers.set(id, { id, due: this.#now + Math.max(0, ms), every, fn });
    return toDisposable(() => this.#timers.delete(id));
  }

  /** Moves time forward, firing due timers in order (each interval as many times as it falls due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.#timers.values()) if (t.due <= end && (!next || t.due < next.due)) next = t;
      if (!next) break;
      this.#now = next.due;
      if (next.every === null) this.#timers.delete(next.id);
      else next.due += next.every;
      next.fn();
    }
    this.#now = end;
  }
}

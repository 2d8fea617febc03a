/** Reconnect delays: exponential, capped, with jitter so many tabs do not reconnect in lockstep. */
export interface BackoffOptions {
  /** First delay, ms. */
  baseMs: number;
  /** Longest delay, ms. */
  capMs: number;
  /** Share of the delay that is randomised (0..1): delay is in [d × (1 − jitter), d]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 300, capMs: 10_000, jitter: 0.5 };

export class Backoff {
  readonly #o: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random) {
    this.#o = o;
    this.#random = random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** Delay before the next attempt; each call doubles the next one, up to the cap. */
  next(): number {
    const d = Math.min(this.#o.capMs, this.#o.baseMs * 2 ** Math.min(this.#attempt, 20));
    this.#attempt++;
    return Math.round(d * (1 - this.#o.jitter * this.#random()));
  }

  reset(): void {
    this.#attempt = 0;
  }
}

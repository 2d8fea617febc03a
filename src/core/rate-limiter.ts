import { systemClock, type Clock } from './clock.ts';

/**
 * A token bucket: `capacity` tokens, refilled at `perSecond`. One bucket per client, owned by the
 * client's connection, so rate-limit state disappears with the client (no global timestamp map).
 */
export class TokenBucket {
  readonly capacity: number;
  readonly perSecond: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(capacity: number, perSecond: number, clock: Clock = systemClock) {
    if (!(capacity > 0) || !(perSecond > 0)) throw new RangeError('TokenBucket capacity and rate must be positive');
    this.capacity = capacity;
    this.perSecond = perSecond;
    this.#clock = clock;
    this.#tokens = capacity;
    this.#at = clock.now();
  }

  /** Takes `n` tokens if available; returns false (taking none) otherwise. */
  take(n = 1): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = this.#clock.now();
    if (now > this.#at) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
      this.#at = now;
    }
  }
}

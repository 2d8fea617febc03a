/**
 * Keeps the last `capacity` items; pushing past it overwrites the oldest. For histories and audit
 * logs, where the newest entries matter and the oldest are expendable by design.
 */
export class RingBuffer<T> {
  readonly capacity: number;
  #items: (T | undefined)[];
  #start = 0;
  #length = 0;
  #overwritten = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('RingBuffer capacity must be a positive integer');
    this.capacity = capacity;
    this.#items = new Array(capacity);
  }

  get length(): number {
    return this.#length;
  }
  /** Items pushed out by newer ones since creation. */
  get overwritten(): number {
    return this.#overwritten;
  }

  push(item: T): void {
    const end = (this.#start + this.#length) % this.capacity;
    this.#items[end] = item;
    if (this.#length < this.capacity) this.#length++;
    else {
      this.#start = (this.#start + 1) % this.capacity;
      this.#overwritten++;
    }
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#length; i++) out.push(this.#items[(this.#start + i) % this.capacity] as T);
    return out;
  }

  last(): T | undefined {
    return this.#length ? this.#items[(this.#start + this.#length - 1) % this.capacity] : undefined;
  }
}

/**
 * A FIFO bounded by bytes and by count. It never grows past its limits: `push` of an item that
 * would exceed either one is refused (returns false, nothing is added), and the caller decides what
 * "full" means for it — cut the subscriber and let it resume from the log, or mark a viewer behind
 * and resync it with a snapshot. Nothing is ever dropped silently.
 */
export interface BoundedQueueOptions<T> {
  /** Maximum total size of queued items, in bytes (as measured by `sizeOf`). */
  maxBytes: number;
  /** Maximum number of queued items. */
  maxItems: number;
  /** Size of one item in bytes; defaults to `.byteLength` / UTF-8 length. */
  sizeOf?: (item: T) => number;
}

function defaultSize(item: unknown): number {
  if (typeof item === 'string') return Buffer.byteLength(item);
  if (item && typeof (item as { byteLength?: unknown }).byteLength === 'number') return (item as { byteLength: number }).byteLength;
  throw new TypeError('BoundedQueue needs sizeOf for items that are neither strings nor byte arrays');
}

export class BoundedQueue<T> {
  readonly maxBytes: number;
  readonly maxItems: number;
  readonly #sizeOf: (item: T) => number;
  #items: T[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #refused = 0;

  constructor(opts: BoundedQueueOptions<T>) {
    if (!(opts.maxBytes > 0) || !(opts.maxItems > 0)) throw new RangeError('BoundedQueue limits must be positive');
    this.maxBytes = opts.maxBytes;
    this.maxItems = opts.maxItems;
    this.#sizeOf = opts.sizeOf ?? defaultSize;
  }

  /** Bytes currently queued (exact: the sum of `sizeOf` over queued items). */
  get bytes(): number {
    return this.#bytes;
  }
  get length(): number {
    return this.#items.length - this.#head;
  }
  /** Pushes refused since creation. */
  get refused(): number {
    return this.#refused;
  }
  get isEmpty(): boolean {
    return this.length === 0;
  }

  /** Whether an item of `size` bytes would be accepted now. */
  fits(size: number): boolean {
    return this.length < this.maxItems && this.#bytes + size <= this.maxBytes;
  }

  /** Adds `item` if it fits both limits; returns false (and adds nothing) when it does not. */
  push(item: T): boolean {
    const size = this.#sizeOf(item);
    if (!this.fits(size)) {
      this.#refused++;
      return false;
    }
    this.#items.push(item);
    this.#sizes.push(size);
    this.#bytes += size;
    return true;
  }

  peek(): T | undefined {
    return this.length ? this.#items[this.#head] : undefined;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head]!;
    this.#bytes -= this.#sizes[this.#head]!;
    // Drop references so shifted items can be collected before the array is compacted.
    (this.#items as (T | undefined)[])[this.#head] = undefined;
    this.#head++;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) this.#compact();
    else if (this.#head === this.#items.length) this.#reset();
    return item;
  }

  /** Removes and returns everything queued, oldest first. */
  drain(): T[] {
    const out = this.#items.slice(this.#head);
    this.#reset();
    return out;
  }

  clear(): void {
    this.#reset();
  }

  #compact(): void {
    this.#items = this.#items.slice(this.#head);
    this.#sizes = this.#sizes.slice(this.#head);
    this.#head = 0;
  }

  #reset(): void {
    this.#items = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}

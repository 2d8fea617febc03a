/**
 * The sending half of one stream: bodies queue here and leave as the mux's windows allow. The
 * queue is the caller's to bound: `write` returns false past `highWaterBytes` (a host pauses its
 * local source, the browser's WebSocket shim reports it in bufferedAmount), and `ondrain` says when
 * everything has left.
 */
import type { Mux } from './mux.ts';
import { Op } from './mux.ts';

export class StreamWriter {
  ondrain: (() => void) | null = null;
  readonly #mux: Mux;
  readonly #op: typeof Op.data | typeof Op.wsMessage;
  readonly #stream: number;
  readonly #highWaterBytes: number;
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #after: (() => void)[] = [];

  constructor(mux: Mux, op: typeof Op.data | typeof Op.wsMessage, stream: number, highWaterBytes: number) {
    this.#mux = mux;
    this.#op = op;
    this.#stream = stream;
    this.#highWaterBytes = highWaterBytes;
  }

  /** Bytes queued and not yet sent. */
  get bufferedAmount(): number {
    return this.#bytes;
  }

  /** Queues one body (at most CHUNK_BYTES + 1); false when the queue is past the high-water mark. */
  write(body: Uint8Array): boolean {
    this.#queue.push(body);
    this.#bytes += body.length;
    this.#flush();
    return this.#bytes < this.#highWaterBytes;
  }

  /** Runs `fn` once everything queued before it has been sent (an end or close must not overtake data). */
  afterQueued(fn: () => void): void {
    if (this.#queue.length === 0) fn();
    else this.#after.push(fn);
  }

  /** Drops everything queued (the stream was reset or closed). */
  clear(): void {
    this.#queue = [];
    this.#bytes = 0;
    this.#after = [];
  }

  #flush = (): void => {
    while (this.#queue.length) {
      const head = this.#queue[0]!;
      if (!this.#mux.trySend(this.#op, this.#stream, head, this.#flush)) return;
      this.#queue.shift();
      this.#bytes -= head.length;
    }
    const after = this.#after;
    this.#after = [];
    for (const fn of after) fn();
    this.ondrain?.();
  };
}

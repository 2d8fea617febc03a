/**
 * Coalesces streamed model text into bounded chunks: a chunk is emitted when it reaches
 * `maxBytes` (UTF-8) or `maxDelayMs` after its first character, whichever comes first. Each chunk
 * is emitted once; nothing is ever re-sent as a growing concatenation (events.ts).
 */
import type { Clock } from '../core/clock.ts';
import type { Disposable } from '../core/lifecycle.ts';

/** Largest assistant_delta chunk, in bytes. */
export const DELTA_MAX_BYTES = 2 * 1024;
/** Longest a character waits before it is emitted. */
export const DELTA_MAX_DELAY_MS = 50;

export class DeltaCoalescer implements Disposable {
  readonly #emit: (text: string) => void;
  readonly #clock: Clock;
  readonly #maxBytes: number;
  readonly #maxDelayMs: number;
  #parts: string[] = [];
  #bytes = 0;
  #timer: Disposable | undefined;
  #disposed = false;
  /** Characters emitted so far. */
  chars = 0;

  constructor(emit: (text: string) => void, clock: Clock, opts: { maxBytes?: number; maxDelayMs?: number } = {}) {
    this.#emit = emit;
    this.#clock = clock;
    this.#maxBytes = opts.maxBytes ?? DELTA_MAX_BYTES;
    this.#maxDelayMs = opts.maxDelayMs ?? DELTA_MAX_DELAY_MS;
  }

  push(text: string): void {
    if (this.#disposed || !text) return;
    let rest = text;
    while (rest) {
      const room = this.#maxBytes - this.#bytes;
      const [head, tail] = splitUtf8(rest, room);
      if (head) {
        this.#parts.push(head);
        this.#bytes += Buffer.byteLength(head);
      }
      rest = tail;
      if (this.#bytes >= this.#maxBytes || (rest && !head)) this.flush();
    }
    if (this.#bytes > 0 && !this.#timer) this.#timer = this.#clock.setTimeout(() => this.flush(), this.#maxDelayMs);
  }

  flush(): void {
    this.#timer?.dispose();
    this.#timer = undefined;
    if (!this.#bytes) return;
    const text = this.#parts.join('');
    this.#parts = [];
    this.#bytes = 0;
    this.chars += text.length;
    this.#emit(text);
  }

  /** Flushes what is buffered and stops; later pushes are ignored. */
  dispose(): void {
    if (this.#disposed) return;
    this.flush();
    this.#disposed = true;
  }
}

/** Splits `s` so the head is at most `maxBytes` of UTF-8, never inside a character. */
export function splitUtf8(s: string, maxBytes: number): [string, string] {
  if (maxBytes <= 0) return ['', s];
  if (s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes) return [s, ''];
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += cp > 0xffff ? 2 : 1;
  }
  return [s.slice(0, i), s.slice(i)];
}

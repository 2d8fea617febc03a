/**
 * Input on its way to a PTY: written without ever blocking or spinning the event loop, in order,
 * bounded.
 *
 * Why not node-pty's `write()`: @lydell/node-pty 1.1.0 (unixTerminal.js `_write`) hands the data
 * to `this._socket.write()`, a `tty.ReadStream` over the PTY master. libuv cannot reopen a PTY
 * master non-blockingly, so it marks that handle UV_HANDLE_BLOCKING_WRITES — yet node-pty has set the
 * fd O_NONBLOCK. When the program does not read (a paste into `sleep 600`, or bash busy), every
 * write returns EAGAIN and libuv's uv__write retries in a tight loop on the main thread: the whole
 * server froze (strace: ~175k `write(ptmx) = EAGAIN` per 2 s) and SIGTERM was never handled.
 * Upstream node-pty since moved to fs writes with a queue (microsoft/node-pty#831) and later paced
 * the EAGAIN retry (microsoft/node-pty#956); this module does the same for the version we ship.
 *
 * How: the master fd is O_NONBLOCK, so `fs.writeSync` on it is one non-blocking syscall that takes
 * what fits and returns. What does not fit waits in a queue; Node offers no writability event for a
 * TTY fd, so the queue retries on a timer that starts at 1 ms and backs off to 32 ms while nothing
 * is accepted (a stalled reader costs ~30 wake-ups a second, not a spinning core), and returns to
 * 1 ms as soon as the program reads again.
 *
 * Bounds and order: at most `maxPendingBytes` wait in the queue. A chunk that does not fit is
 * refused whole (never cut), and so is every later chunk until the queue has drained completely —
 * so a paste sent as several frames can lose its tail, but never a piece from its middle, and the
 * bytes that do reach the program are always in the order they were sent.
 */
import fs from 'node:fs';
import type { Clock } from '../core/clock.ts';
import type { Disposable } from '../core/lifecycle.ts';

/** First retry after the PTY refused more input, and the cap of its doubling. */
export const INPUT_RETRY_MIN_MS = 1;
export const INPUT_RETRY_MAX_MS = 32;
/** Written in one turn of the event loop at most, so a fast reader of a huge queue cannot hold the loop. */
const MAX_BYTES_PER_TURN = 256 * 1024;

export type InputResult = 'ok' | 'busy' | 'closed';

export interface PtyInputOptions {
  /** The PTY master (non-blocking). */
  fd: number;
  /** Input held here, not yet taken by the PTY, past which input is refused (--terminal-max-pending-input-bytes). */
  maxPendingBytes: number;
  clock: Clock;
  /** False once the fd may be closed (the PTY socket is destroyed): writing to a reused fd number must never happen. */
  fdOpen: () => boolean;
  /** The PTY failed a write for good (EIO: the other side is gone); the queue is dropped. */
  onWriteError?: (err: NodeJS.ErrnoException) => void;
}

export class PtyInput implements Disposable {
  readonly #o: PtyInputOptions;
  #queue: Buffer[] = [];
  /** Bytes of `#queue[0]` already written. */
  #headOffset = 0;
  #pendingBytes = 0;
  /** A chunk was refused: refuse everything until the queue is empty (no hole in the middle of a paste). */
  #refusing = false;
  #retry: Disposable | undefined;
  #delayMs = INPUT_RETRY_MIN_MS;
  #closed = false;
  #refusedChunks = 0;
  #refusedBytes = 0;
  /** Counts refusal spells (from the first refused chunk to the queue running empty). */
  #spells = 0;

  constructor(o: PtyInputOptions) {
    this.#o = o;
  }

  /** Input accepted and not yet taken by the PTY. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
  get maxPendingBytes(): number {
    return this.#o.maxPendingBytes;
  }
  /** The current (or last) refusal spell: writers told once per spell, not once per refused chunk. */
  get refusalSpell(): number {
    return this.#spells;
  }
  /** Chunks and bytes refused since the session started (counters, for stats). */
  get refused(): { chunks: number; bytes: number } {
    return { chunks: this.#refusedChunks, bytes: this.#refusedBytes };
  }

  /**
   * Queues `data` and writes what the PTY takes now. 'busy': refused whole (nothing of it will be
   * written); 'closed': the PTY is gone.
   */
  write(data: Buffer): InputResult {
    if (this.#closed) return 'closed';
    if (data.length === 0) return 'ok';
    if (this.#refusing || this.#pendingBytes + data.length > this.#o.maxPendingBytes) {
      if (!this.#refusing) this.#spells++;
      this.#refusing = true;
      this.#refusedChunks++;
      this.#refusedBytes += data.length;
      return 'busy';
    }
    this.#queue.push(data);
    this.#pendingBytes += data.length;
    // A retry is already scheduled: the PTY is full, and this chunk goes after the ones before it.
    if (!this.#retry) this.#drain();
    return this.#closed ? 'closed' : 'ok';
  }

  /** Drops whatever is queued and stops writing (the session is closing or gone). Idempotent. */
  dispose(): void {
    this.#closed = true;
    this.#retry?.dispose();
    this.#retry = undefined;
    this.#queue = [];
    this.#headOffset = 0;
    this.#pendingBytes = 0;
  }

  #drain(): void {
    this.#retry = undefined;
    if (this.#closed) return;
    if (!this.#o.fdOpen()) return this.dispose();
    let written = 0;
    let full = false;
    while (this.#queue.length > 0) {
      if (written >= MAX_BYTES_PER_TURN) break;
      const head = this.#queue[0]!;
      let n: number;
      try {
        n = fs.writeSync(this.#o.fd, head, this.#headOffset, head.length - this.#headOffset);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK' || e.code === 'EINTR') {
          full = true;
          break;
        }
        // EIO / EBADF: the PTY's other side is gone; the exit path tells the viewers.
        this.dispose();
        this.#o.onWriteError?.(e);
        return;
      }
      if (n === 0) {
        // Nothing taken without an error: treat it as full, never loop on it.
        full = true;
        break;
      }
      written += n;
      this.#pendingBytes -= n;
      this.#headOffset += n;
      if (this.#headOffset >= head.length) {
        this.#queue.shift();
        this.#headOffset = 0;
      }
    }
    if (this.#queue.length === 0) {
      this.#refusing = false;
      this.#delayMs = INPUT_RETRY_MIN_MS;
      return;
    }
    if (!full) {
      // Stopped at the per-turn cap with the PTY still taking input: continue on the next turn.
      this.#delayMs = INPUT_RETRY_MIN_MS;
      this.#retry = this.#o.clock.setTimeout(() => this.#drain(), 0);
      return;
    }
    this.#delayMs = written > 0 ? INPUT_RETRY_MIN_MS : Math.min(this.#delayMs * 2, INPUT_RETRY_MAX_MS);
    this.#retry = this.#o.clock.setTimeout(() => this.#drain(), this.#delayMs);
  }
}

/**
 * Every write to keel.db goes through here, so that a database Keel cannot write to never stalls
 * the event loop and never loses what was being written.
 *
 * node:sqlite is synchronous: while another process holds the write lock, a statement waits up to
 * `busy_timeout` on the main thread. The connection's busy timeout is therefore a few ms
 * (--storage-busy-timeout-ms); a write that finds the database locked (SQLITE_BUSY/LOCKED), full
 * (SQLITE_FULL, ENOSPC) or failing (SQLITE_IOERR, CANTOPEN, READONLY) is queued here, in memory, and
 * retried with backoff (10 ms doubling to 1 s); writes that come while the queue is not empty wait
 * behind it, so rows land in the order they were written. Why this and not a worker thread with its
 * own connection: every store reads its own writes at once (create a chat session, then list it),
 * and a worker would make every write asynchronous for everyone all the time; here the common case
 * stays one synchronous statement, and only an outage costs anything.
 *
 * A write is a closure over the row it writes, keyed by that row: a newer write of a queued row
 * replaces the queued one (the stores' closures read their in-memory copy when they run, so the
 * newest value lands once). The stores keep what is queued visible to their readers (an overlay of
 * unsaved rows) until it lands.
 *
 * Bounded: at most `maxPendingWrites` writes and `maxPendingBytes` bytes are held. Over that a write
 * is refused (503 `storage_unavailable`, or 507 `insufficient_storage` when the disk is full) and the
 * caller keeps or reports what it was writing. While the disk is full, writes a user asked for
 * (create, rename, delete) are refused with 507 at once instead of being held: the user can act on
 * that, and nothing has changed. Health: `state` is `degraded` while anything waits, with the
 * reason; `/healthz`, `/readyz`, `/debug/memory`, `/metrics` and the UI show it.
 */
import type { Logger } from 'pino';
import { KeelError } from '../core/errors.ts';
import type { Disposable } from '../core/lifecycle.ts';

export interface WriteOp {
  /** Rows written under one key replace each other while queued ('' or undefined: never replaced). */
  key?: string;
  /** What is being written, in the user's words (named in logs and at shutdown when it is lost). */
  label: string;
  /** Bytes this write holds in memory while queued. */
  bytes: number;
  /** The SQL, synchronous. Throws what node:sqlite throws. */
  run(): void;
  /** It landed. */
  done?(): void;
  /** It will never land (a non-storage error, or Keel is closing): the store drops its unsaved copy. */
  dropped?(err: Error): void;
}

export type StorageProblem = 'locked' | 'full' | 'io';

export interface StorageHealth {
  state: 'ok' | 'degraded';
  /** Why, while degraded: what to do about it. */
  reason: string;
  problem: StorageProblem | null;
  /** Since when (epoch ms), while degraded. */
  since: number | null;
  pending_writes: number;
  pending_bytes: number;
  max_pending_writes: number;
  max_pending_bytes: number;
  /** Writes that failed for a storage reason and were kept, since start. */
  deferred_total: number;
  /** Kept writes that landed later. */
  landed_after_retry_total: number;
  /** Writes refused because the queue was full (or the disk full, for writes a user asked for). */
  refused_total: number;
  /** Queued writes dropped (an error retrying cannot fix, or shutdown). */
  dropped_total: number;
  last_error: string;
}

export interface StorageWriterOptions {
  maxPendingWrites: number;
  maxPendingBytes: number;
  /** Where the database is, for messages. */
  where: string;
  log?: Logger;
  /** Called when the state changes (degraded ↔ ok), for the audit log. */
  onChange?(h: StorageHealth): void;
}

const RETRY_MIN_MS = 10;
const RETRY_MAX_MS = 1_000;
/** Longest one retry pass keeps the event loop (it yields and continues after). */
const SLICE_MS = 8;

/** SQLite primary result codes (node:sqlite's `errcode` is the extended one; the low byte is the primary). */
const SQLITE = { BUSY: 5, LOCKED: 6, READONLY: 8, IOERR: 10, FULL: 13, CANTOPEN: 14 } as const;

/** Whether `err` is a storage condition a retry can outlive (and which one), or null for anything else. */
export function storageProblem(err: unknown): StorageProblem | null {
  const e = err as { code?: string; errcode?: number };
  if (e?.code === 'ENOSPC') return 'full';
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return null;
  switch (e.errcode & 0xff) {
    case SQLITE.BUSY:
    case SQLITE.LOCKED:
      return 'locked';
    case SQLITE.FULL:
      return 'full';
    case SQLITE.IOERR:
    case SQLITE.CANTOPEN:
    case SQLITE.READONLY:
      return 'io';
    default:
      return null;
  }
}

function describe(problem: StorageProblem, where: string): string {
  switch (problem) {
    case 'locked':
      return `Another process holds a lock on the database (${where}); Keel keeps what it writes in memory and writes it as soon as the lock is released. Stop whatever has the database open (a backup, an sqlite3 shell) if this lasts.`;
    case 'full':
      return `The disk holding the database (${where}) is full; Keel keeps edits in memory and writes them as soon as there is room. Free space on that disk, or restart Keel with another --data-dir.`;
    case 'io':
      return `The database (${where}) cannot be written (an I/O error or read-only file); Keel keeps what it writes in memory and retries. Check the disk and the file's permissions.`;
  }
}

interface Slot {
  op: WriteOp;
  at: number;
}

export class StorageWriter implements Disposable {
  readonly #o: StorageWriterOptions;
  readonly #queue: Slot[] = [];
  readonly #byKey = new Map<string, Slot>();
  #bytes = 0;
  #problem: StorageProblem | null = null;
  #since: number | null = null;
  #lastError = '';
  #retryMs = RETRY_MIN_MS;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #deferred = 0;
  #landed = 0;
  #refused = 0;
  #dropped = 0;
  #disposed = false;
  readonly #listeners = new Set<(h: StorageHealth) => void>();
  /** Shutting down: what is written now is the last of it, so it is kept whatever the limits (and named if it never lands). */
  #unbounded = false;

  constructor(o: StorageWriterOptions) {
    this.#o = o;
  }

  /** Called whenever the state changes (degraded ↔ ok); the live dashboard pushes it at once. */
  subscribe(fn: (h: StorageHealth) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  #changed(): void {
    const h = this.health();
    this.#o.onChange?.(h);
    for (const fn of this.#listeners) fn(h);
  }

  get pending(): number {
    return this.#queue.length;
  }

  /** Labels of what waits to be written, oldest first. */
  pendingLabels(): string[] {
    return this.#queue.map((s) => s.op.label);
  }

  health(): StorageHealth {
    // Also degraded with nothing queued: a write a user asked for was just refused (disk full).
    const degraded = this.#queue.length > 0 || this.#problem !== null;
    return {
      state: degraded ? 'degraded' : 'ok',
      reason: degraded && this.#problem ? describe(this.#problem, this.#o.where) : '',
      problem: degraded ? this.#problem : null,
      since: degraded ? this.#since : null,
      pending_writes: this.#queue.length,
      pending_bytes: this.#bytes,
      max_pending_writes: this.#o.maxPendingWrites,
      max_pending_bytes: this.#o.maxPendingBytes,
      deferred_total: this.#deferred,
      landed_after_retry_total: this.#landed,
      refused_total: this.#refused,
      dropped_total: this.#dropped,
      last_error: this.#lastError,
    };
  }

  /**
   * Writes now, or keeps the write for later when the database cannot take it (or others wait
   * already). `userFacing`: a write the user asked for, refused with 507 while the disk is full
   * instead of being kept. Throws KeelError 503/507 when it cannot be kept, and the SQLite error
   * itself for anything that is not a storage condition (a bug: the caller's 500).
   */
  write(op: WriteOp, opts: { userFacing?: boolean } = {}): 'written' | 'queued' {
    if (this.#disposed) throw new KeelError(503, 'shutting_down', 'Keel is shutting down; nothing more is written.');
    if (this.#queue.length === 0) {
      try {
        op.run();
      } catch (err) {
        const problem = storageProblem(err);
        if (!problem) throw err;
        this.#noteFailure(problem, err);
        const wasOk = this.#since === null;
        this.#since ??= Date.now();
        try {
          this.#keep(op, opts.userFacing);
        } finally {
          if (wasOk) this.#announce();
        }
        this.#schedule();
        return 'queued';
      }
      if (this.#problem) this.#recovered();
      op.done?.();
      return 'written';
    }
    this.#keep(op, opts.userFacing);
    return 'queued';
  }

  #keep(op: WriteOp, userFacing = false): void {
    if (userFacing && this.#problem === 'full') {
      this.#refused++;
      throw this.#refusal();
    }
    const existing = op.key ? this.#byKey.get(op.key) : undefined;
    const bytes = this.#bytes - (existing?.op.bytes ?? 0) + op.bytes;
    if (!this.#unbounded && ((!existing && this.#queue.length >= this.#o.maxPendingWrites) || bytes > this.#o.maxPendingBytes)) {
      this.#refused++;
      throw this.#refusal(true);
    }
    this.#bytes = bytes;
    this.#deferred++;
    if (existing) {
      existing.op = op;
      return;
    }
    const slot = { op, at: Date.now() };
    this.#queue.push(slot);
    if (op.key) this.#byKey.set(op.key, slot);
  }

  #announce(): void {
    this.#o.log?.error({ problem: this.#problem, error: this.#lastError, where: this.#o.where }, 'storage degraded: writes are kept in memory and retried');
    this.#changed();
  }

  #refusal(queueFull = false): KeelError {
    const held = `${this.#queue.length} writes (${Math.ceil(this.#bytes / 1024)} KiB) wait in memory already`;
    if (this.#problem === 'full') {
      return new KeelError(507, 'insufficient_storage', `${describe('full', this.#o.where)} ${queueFull ? `${held} (options --storage-max-pending-writes, --storage-max-pending-bytes); ` : ''}This change was not made; try again after freeing space.`);
    }
    return new KeelError(
      503,
      'storage_unavailable',
      `${describe(this.#problem ?? 'io', this.#o.where)} ${held} (options --storage-max-pending-writes, --storage-max-pending-bytes), so this change was not made; try again shortly.`,
    );
  }

  #noteFailure(problem: StorageProblem, err: unknown): void {
    this.#problem = problem;
    this.#lastError = String((err as Error)?.message ?? err).slice(0, 300);
  }

  #schedule(): void {
    if (this.#timer || this.#disposed || !this.#queue.length) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, this.#retryMs);
  }

  /** Writes what waits, oldest first, for at most SLICE_MS at a time; stops at the first storage failure. */
  #drain(): void {
    const t0 = performance.now();
    while (this.#queue.length && !this.#disposed) {
      const slot = this.#queue[0]!;
      try {
        slot.op.run();
      } catch (err) {
        const problem = storageProblem(err);
        if (problem) {
          this.#noteFailure(problem, err);
          this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
          return this.#schedule();
        }
        // Retrying cannot fix this one (a constraint, a bug): drop it loudly, go on with the rest.
        this.#shift(slot);
        this.#dropped++;
        this.#o.log?.error({ err, write: slot.op.label }, 'a kept write failed for good and was dropped');
        slot.op.dropped?.(err as Error);
        continue;
      }
      this.#shift(slot);
      this.#landed++;
      slot.op.done?.();
      if (performance.now() - t0 > SLICE_MS && this.#queue.length) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#drain();
        }, 0);
        return;
      }
    }
    if (!this.#queue.length && this.#problem) this.#recovered();
  }

  #shift(slot: Slot): void {
    this.#queue.shift();
    this.#bytes -= slot.op.bytes;
    if (slot.op.key && this.#byKey.get(slot.op.key) === slot) this.#byKey.delete(slot.op.key);
  }

  #recovered(): void {
    this.#retryMs = RETRY_MIN_MS;
    const since = this.#since;
    this.#since = null;
    this.#problem = null;
    this.#o.log?.warn({ downMs: since ? Date.now() - since : 0, landed: this.#landed }, 'storage recovered: every kept write landed');
    this.#changed();
  }

  /** Shutdown begins: from now on writes are kept whatever the limits (the last ones; flush names what never lands). */
  unbound(): void {
    this.#unbounded = true;
  }

  /**
   * Shutdown: keeps retrying until everything landed or `deadline` (epoch ms) passed. Resolves to
   * the labels of what did not land (empty: everything is stored).
   */
  async flush(deadline: number): Promise<string[]> {
    while (this.#queue.length && !this.#disposed && Date.now() < deadline) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#drain();
      if (!this.#queue.length) break;
      await new Promise((r) => setTimeout(r, Math.min(this.#retryMs, Math.max(1, deadline - Date.now()))));
    }
    return this.pendingLabels();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    const lost = this.#queue.splice(0);
    this.#byKey.clear();
    this.#bytes = 0;
    if (lost.length) {
      this.#dropped += lost.length;
      this.#o.log?.error({ lost: lost.map((s) => s.op.label) }, `${lost.length} kept write(s) were never stored`);
      for (const s of lost) s.op.dropped?.(new Error('Keel closed before this could be stored'));
    }
  }
}

/**
 * Main-thread side of the headless mirrors: a small pool of worker threads (mirror-worker.ts), each
 * hosting the mirrors of many sessions (a worker per session would cost an isolate, megabytes, per
 * tab). A `Mirror` counts the bytes it has posted and not yet seen parsed: its backlog, which the
 * session bounds by pausing the PTY. Output goes through a `FastForward` first: text that may still
 * scroll away is held, and whatever of it provably cannot show in the final screen and scrollback
 * is skipped (fast-forward.ts). Held text is posted once output has been quiet for
 * `MIRROR_QUIET_MS` (or has been held for `MIRROR_MAX_HOLD_MS` while output only trickles), when a
 * snapshot or the screen text is asked for, or (its oldest part) when it passes half the backlog
 * bound. So during a flood the worker parses only what can still show, instead of spending a core
 * on bytes that scroll away (on a small machine that core is the PTY's throughput).
 */
import { Worker } from 'node:worker_threads';
import type { Disposable } from '../core/lifecycle.ts';
import { FastForward } from './fast-forward.ts';
import type { FromWorker, SnapshotReply, ToWorker } from './mirror-messages.ts';

/** Estimated bytes per mirror cell: xterm stores 3 × Uint32 per cell in each buffer line. */
export const MIRROR_BYTES_PER_CELL = 12;

/**
 * The worker's young generation, in MB. Parsing makes short-lived garbage at the output rate; V8's
 * default lets the nursery grow to tens of MB of RSS during a flood. Measured here: a 4 MB cap cut
 * RSS growth during a flood from 27 to 18 MB and did not slow parsing.
 */
const MIRROR_WORKER_YOUNG_GEN_MB = 4;

/**
 * The worker's script: the TypeScript source next to this file, or the bundle's `mirror-worker.js`
 * when running from dist/ (scripts/build-server.js names that entry so; every chunk sits in one
 * directory).
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './mirror-worker.ts' : './mirror-worker.js', import.meta.url);

/** Output quiet for this long: held plain text is posted, so an idle mirror is up to date. */
export const MIRROR_QUIET_MS = 20;
/** Held text is posted after this long even while output continues (a steady trickle never goes quiet). */
export const MIRROR_MAX_HOLD_MS = 250;
/**
 * More output than this within one MIRROR_MAX_HOLD_MS is a flood, not a trickle: the held text is
 * not posted then (most of it is about to be skipped, and parsing it would take a core from the
 * PTY); the held window's bound and the next quiet moment still post it.
 */
export const MIRROR_FLOOD_BYTES = 1024 * 1024;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

class MirrorWorker {
  readonly worker: Worker;
  readonly mirrors = new Map<string, Mirror>();
  readonly pending = new Map<number, Pending>();
  /** Armed while the worker hosts no mirror: stops it after the pool's idle grace. */
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  #dead = false;
  readonly #onDead: (w: MirrorWorker) => void;
  readonly #onMirrorFailed: (error: string) => void;

  constructor(onDead: (w: MirrorWorker) => void, onMirrorFailed: (error: string) => void) {
    this.#onDead = onDead;
    this.#onMirrorFailed = onMirrorFailed;
    this.worker = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: MIRROR_WORKER_YOUNG_GEN_MB } });
    // A mirror worker must never keep the process alive on its own: sessions own the lifetime.
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => this.#onMessage(m));
    this.worker.on('error', (err: Error) => this.#die(err));
    this.worker.on('exit', (code) => this.#die(new Error(`mirror worker exited with code ${code}`)));
  }

  get isDead(): boolean {
    return this.#dead;
  }

  post(m: ToWorker): void {
    if (!this.#dead) this.worker.postMessage(m);
  }

  #onMessage(m: FromWorker): void {
    if (m.t === 'parsed') {
      this.mirrors.get(m.id)?.onParsed(m.bytes, m.lines);
      return;
    }
    if (m.t === 'failed') {
      this.#onMirrorFailed(m.error);
      this.mirrors.get(m.id)?.onRebuilt(m.error);
      return;
    }
    const p = this.pending.get(m.req);
    if (!p) return;
    this.pending.delete(m.req);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(m.error));
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    clearTimeout(this.idleTimer);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.#onDead(this);
    for (const m of [...this.mirrors.values()]) m.onWorkerFailed(err);
    this.mirrors.clear();
  }

  terminate(reason = 'mirror pool closed'): Promise<number> {
    this.#dead = true;
    clearTimeout(this.idleTimer);
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
    return this.worker.terminate();
  }
}

export interface MirrorEvents {
  /** Some backlog was parsed (the session may resume a paused PTY). */
  onDrain(): void;
  /** The worker died; this mirror is gone and every request on it failed. */
  onFailed(err: Error): void;
  /**
   * xterm threw on this mirror (and on no other): the worker rebuilt it from its own snapshot, so
   * it may miss some output (mirror-host.ts). Requests keep working.
   */
  onDegraded(error: string): void;
}

export interface MirrorPoolOptions {
  /** Skip output that provably cannot show (fast-forward.ts); off: the mirrors parse every byte. */
  fastForward?: boolean;
  /**
   * A worker left without mirrors is stopped after this long (a worker is a V8 isolate: ~10 MB of
   * RSS that no terminal needs); the next terminal starts one again. Default
   * MIRROR_WORKER_IDLE_STOP_MS; 0 stops it at once.
   */
  idleStopMs?: number;
}

/** Default grace before a worker without mirrors stops (option --terminal-mirror-worker-idle-ms). */
export const MIRROR_WORKER_IDLE_STOP_MS = 10_000;

export class MirrorPool implements Disposable {
  readonly #size: number;
  readonly #idleStopMs: number;
  #workers: MirrorWorker[] = [];
  #nextReq = 1;
  #disposed = false;
  /** Workers started and stopped for idleness since the pool started. */
  workersStarted = 0;
  workersStopped = 0;
  /** Output bytes the mirrors skipped (fast-forward), since the pool started. */
  skippedBytes = 0;
  /** Mirrors rebuilt after xterm threw on them, since the pool started. */
  failures = 0;
  readonly fastForward: boolean;

  constructor(size: number, opts: MirrorPoolOptions = {}) {
    this.#size = Math.max(1, size);
    this.fastForward = opts.fastForward !== false;
    this.#idleStopMs = Math.max(0, opts.idleStopMs ?? MIRROR_WORKER_IDLE_STOP_MS);
  }

  get workers(): number {
    return this.#workers.length;
  }

  #heapBytes = 0;
  /** The workers' V8 heaps (physical bytes) as of the last `refresh()`: a part of RSS in /debug/memory. */
  read(): number {
    return this.#workers.length ? this.#heapBytes : 0;
  }

  /** Asks each worker for its heap statistics (Node >= 22.16; older ones report 0). */
  async refresh(): Promise<void> {
    const stats = await Promise.allSettled(
      this.#workers.map((w) => (typeof w.worker.getHeapStatistics === 'function' ? w.worker.getHeapStatistics() : Promise.resolve({ total_physical_size: 0 }))),
    );
    this.#heapBytes = stats.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value.total_physical_size : 0), 0);
  }

  /** `backlogBound`: the session's bound on the mirror's backlog (it pauses the PTY over it); held plain text is bounded by half of it. */
  open(id: string, cols: number, rows: number, scrollback: number, backlogBound: number, events: MirrorEvents): Mirror {
    if (this.#disposed) throw new Error('mirror pool is closed');
    const w = this.#pick();
    clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
    const m = new Mirror(this, w, id, cols, rows, scrollback, backlogBound, events);
    w.mirrors.set(id, m);
    w.post({ t: 'open', id, cols, rows, scrollback });
    return m;
  }

  /** Workers are started lazily, up to the pool size, then sessions go to the least loaded one. */
  #pick(): MirrorWorker {
    if (this.#workers.length < this.#size && this.#workers.every((w) => w.mirrors.size > 0)) {
      const w = new MirrorWorker(
        (dead) => {
          this.#workers = this.#workers.filter((x) => x !== dead);
        },
        () => this.failures++,
      );
      this.#workers.push(w);
      this.workersStarted++;
      return w;
    }
    return this.#workers.reduce((a, b) => (b.mirrors.size < a.mirrors.size ? b : a));
  }

  /** A mirror of `w` closed: a worker left empty stops after the grace, unless a terminal opens on it first. */
  released(w: MirrorWorker): void {
    if (this.#disposed || w.isDead || w.mirrors.size > 0 || w.idleTimer) return;
    const stop = () => {
      w.idleTimer = undefined;
      if (this.#disposed || w.isDead || w.mirrors.size > 0) return;
      this.#workers = this.#workers.filter((x) => x !== w);
      this.workersStopped++;
      void w.terminate('mirror worker stopped (idle)');
    };
    // unref: an idle worker's countdown must not keep a closing process alive; dispose clears it.
    w.idleTimer = setTimeout(stop, this.#idleStopMs);
    w.idleTimer.unref();
  }
  request<T>(w: MirrorWorker, build: (req: number) => ToWorker): Promise<T> {
    if (w.isDead) return Promise.reject(new Error('mirror worker is gone'));
    const req = this.#nextReq++;
    return new Promise<T>((resolve, reject) => {
      w.pending.set(req, { resolve: resolve as (v: unknown) => void, reject });
      w.post(build(req));
    });
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const w of this.#workers) void w.terminate();
    this.#workers = [];
  }
}

export class Mirror implements Disposable {
  readonly id: string;
  readonly #pool: MirrorPool;
  readonly #worker: MirrorWorker;
  readonly #events: MirrorEvents;
  readonly #scrollback: number;
  #cols: number;
  #backlog = 0;
  #lines = 0;
  #disposed = false;
  /** Held output is at most half the backlog bound, so posting it never pauses the PTY by itself. */
  readonly #ff: FastForward;
  /**
   * Posts held text once output is quiet: one timer per mirror, armed only while something is held
   * (at most 250 ms of a trickle, or as long as a flood lasts), cleared by dispose. Not unref'd, so
   * the leak tests' handle counts see it.
   */
  #quietTimer: ReturnType<typeof setTimeout> | undefined;
  #wroteSinceTick = false;
  /** Quiet-timer ticks since something was first held, and bytes written since. */
  #heldTicks = 0;
  #heldWritten = 0;

  constructor(pool: MirrorPool, worker: MirrorWorker, id: string, cols: number, rows: number, scrollback: number, backlogBound: number, events: MirrorEvents) {
    this.#pool = pool;
    this.#worker = worker;
    this.id = id;
    this.#cols = cols;
    this.#scrollback = scrollback;
    this.#events = events;
    this.#ff = new FastForward(cols, rows, scrollback, Math.floor(backlogBound / 2), (d) => this.#postData(d));
  }

  /** Bytes posted to the worker and not yet parsed. */
  get backlogBytes(): number {
    return this.#backlog;
  }

  /** Plain text held back (not yet posted; at most the backlog bound). */
  get heldBytes(): number {
    return this.#ff.heldBytes;
  }

  /** Output bytes skipped by the fast-forward (provably invisible in the mirror's final state). */
  get skippedBytes(): number {
    return this.#ff.skippedBytes;
  }

  /** Estimated memory held by the mirror's buffer (lines × cols × bytes per cell). */
  get estimatedBytes(): number {
    return this.#lines * this.#cols * MIRROR_BYTES_PER_CELL;
  }

  /** Upper bound of `estimatedBytes` for a size: what the budget counts. */
  static worstCaseBytes(cols: number, rows: number, scrollback: number): number {
    return (rows + scrollback) * cols * MIRROR_BYTES_PER_CELL;
  }

  write(data: Buffer): void {
    if (this.#disposed) return;
    if (!this.#pool.fastForward) return this.#postData(data);
    const before = this.#ff.skippedBytes;
    this.#ff.write(data, true);
    this.#pool.skippedBytes += this.#ff.skippedBytes - before;
    this.#wroteSinceTick = true;
    this.#heldWritten += data.length;
    if (this.#ff.heldBytes > 0 && !this.#quietTimer) {
      this.#heldTicks = 0;
      this.#heldWritten = 0;
      this.#armQuietTimer();
    }
  }

  #armQuietTimer(): void {
    this.#wroteSinceTick = false;
    this.#quietTimer = setTimeout(() => {
      this.#quietTimer = undefined;
      if (this.#disposed || this.#ff.heldBytes === 0) return;
      if (!this.#wroteSinceTick) return this.#ff.flush();
      if (++this.#heldTicks * MIRROR_QUIET_MS < MIRROR_MAX_HOLD_MS) return this.#armQuietTimer();
      const flood = this.#heldWritten > MIRROR_FLOOD_BYTES;
      this.#heldTicks = 0;
      this.#heldWritten = 0;
      if (flood) this.#armQuietTimer();
      else this.#ff.flush();
    }, MIRROR_QUIET_MS);
  }

  #postData(d: Uint8Array): void {
    // A small view of a larger buffer: copy it, so the message does not carry the whole buffer.
    const data = d.byteLength * 2 < d.buffer.byteLength ? new Uint8Array(d) : d;
    this.#backlog += data.byteLength;
    this.#worker.post({ t: 'data', id: this.id, data });
  }

  resize(cols: number, rows: number): void {
    if (this.#disposed) return;
    this.#cols = cols;
    // Held output is posted first: it is parsed at the old size, as in a real terminal.
    this.#ff.resize(cols, rows);
    this.#worker.post({ t: 'resize', id: this.id, cols, rows });
  }

  /** The serialized screen as of every byte written before this call (held output is posted first; skipped output cannot show). */
  snapshot(): Promise<SnapshotReply> {
    if (this.#disposed) return Promise.reject(new Error('mirror closed'));
    this.#ff.flush();
    return this.#pool.request(this.#worker, (req) => ({ t: 'snapshot', id: this.id, req }));
  }

  screenText(scrollbackLines = 0): Promise<string> {
    if (this.#disposed) return Promise.reject(new Error('mirror closed'));
    this.#ff.flush();
    return this.#pool.request(this.#worker, (req) => ({ t: 'text', id: this.id, req, scrollback: scrollbackLines }));
  }

  /** Drops the scrollback (keeps the screen); resolves to the number of lines freed. */
  trim(): Promise<number> {
    if (this.#disposed) return Promise.resolve(0);
    this.#ff.flush();
    return this.#pool.request(this.#worker, (req) => ({ t: 'trim', id: this.id, req }));
  }

  onParsed(bytes: number, lines: number): void {
    if (this.#disposed) return;
    this.#backlog = Math.max(0, this.#backlog - bytes);
    this.#lines = lines;
    this.#events.onDrain();
  }

  onRebuilt(error: string): void {
    if (!this.#disposed) this.#events.onDegraded(error);
  }

  onWorkerFailed(err: Error): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#quietTimer);
    this.#backlog = 0;
    this.#events.onFailed(err);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#quietTimer);
    this.#backlog = 0;
    this.#worker.mirrors.delete(this.id);
    this.#worker.post({ t: 'close', id: this.id });
    this.#pool.released(this.#worker);
  }
}

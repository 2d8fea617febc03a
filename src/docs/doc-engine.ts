/**
 * Main-thread side of the document worker (doc-worker.ts): every Yjs operation on a loaded document
 * is a request to it, answered in order. The main thread never runs Yjs on a client's update, so no
 * update can stall terminals, streams or /healthz, whatever it costs to integrate.
 *
 * What one update may cost is bounded by CPU time: when the request the worker is on has used more
 * than `applyCpuMs` of the worker thread's CPU (requests Keel makes itself on states it stored, such
 * as loading, encoding or reading text, get `serverCpuMs`), the worker is stopped (V8 interrupts
 * it), that request is answered — an update with the refusal `too_expensive`, anything else with an
 * error — and a new worker is started with every loaded document restored, then the requests that
 * were waiting are sent again. CPU time, not wall time: on a loaded machine an honest update can
 * wait seconds for a core without costing more. (Where `Worker#cpuUsage` is missing, before Node
 * 22.19, wall time is used.) A request that does not finish within `WALL_FACTOR` times its CPU
 * allowance of wall time is stopped too, so a worker that never gets a core cannot hold documents
 * for ever.
 * An out-of-memory in the worker (its heap is capped, `heapMb`) is handled the same way instead of
 * aborting the process.
 *
 * Restoring needs each document's state as the worker had it: the engine keeps, per loaded
 * document, the last full state it saw (the load, or the latest encode: every store is one) and the
 * updates applied since. The log is compacted (an encode) once it passes a quarter of
 * `maxDocBytes`, so it holds at most about 1.25 × maxDocBytes per loaded document.
 *
 * The worker is a second V8 isolate with Yjs loaded (~10 MB of RSS): it starts with the first
 * request and stops once no document has been loaded and no request waited for `idleStopMs`.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Disposable } from '../core/lifecycle.ts';
import type { ApplyReply, FromWorker, ToWorker } from './doc-messages.ts';

/** --max-doc-pending-update-bytes' default. */
export const DEFAULT_MAX_PENDING_APPLY_BYTES = 16 * 1024 * 1024;

export type ApplyAnswer = ApplyReply | { applied: false; reason: 'too_expensive' | 'server_busy'; message: string };

export interface DocEngineOptions {
  applyCpuMs: number;
  maxDocBytes: number;
  maxUpdateStructs: number;
  /** Old-generation heap of the worker, MB. */
  heapMb: number;
  /** Bytes of client updates waiting for the worker at once (--max-doc-pending-update-bytes); past it one is refused as server_busy. */
  maxPendingApplyBytes?: number;
  /** The worker is stopped after this long without a loaded document or a request (--doc-worker-idle-ms); 0 at once. */
  idleStopMs?: number;
  log: Logger;
  /** A document could not be restored after a restart (its load took too long again): it is gone from the worker. */
  onLost(room: string, err: Error): void;
}

/** Thrown for a request whose update (or frame) does not decode or apply: the client's fault. */
export class MalformedUpdate extends Error {
  override readonly name = 'MalformedUpdate';
}

type Body = ToWorker extends infer M ? (M extends { req: number } ? Omit<M, 'req'> : never) : never;

/** CPU allowed to requests Keel makes on its own stored states (loads, encodes, text): generous, as they are bounded by --max-doc-bytes, not chosen by a client. */
export function serverCpuMs(applyCpuMs: number): number {
  return Math.max(10 * applyCpuMs, 10_000);
}

/** Wall time a request may take, as a multiple of its CPU allowance. */
export const WALL_FACTOR = 10;
/** How often the worker's CPU time is read while it has work. */
const POLL_MS = 50;
/** Default grace before an idle document worker stops (option --doc-worker-idle-ms). */
export const DOC_WORKER_IDLE_STOP_MS = 10_000;
/**
 * The worker's script: the TypeScript source next to this file, or the bundle's `doc-worker.js`
 * entry when running from dist/ (scripts/build-server.js), whichever chunk this module landed in.
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './doc-worker.ts' : './doc-worker.js', import.meta.url);

interface Request {
  req: number;
  msg: ToWorker;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

interface Recovery {
  state: Uint8Array | null;
  log: Uint8Array[];
  logBytes: number;
  version: number;
  compacting: boolean;
}

export class DocEngine implements Disposable {
  readonly #o: DocEngineOptions;
  #worker: Worker | undefined;
  /** The worker has loaded its modules: requests are timed from then (a busy machine can take seconds to start one). */
  #ready = false;
  /** Sent and not yet answered, oldest first (the worker answers in order). */
  #inflight: Request[] = [];
  #pendingApplyBytes = 0;
  readonly #recovery = new Map<string, Recovery>();
  #nextReq = 1;
  /** When the worker last answered (or got work while idle): the oldest request has run since then. */
  #since = 0;
  /** The worker thread's CPU time (ms) when it last answered: the oldest request has used what it used since. */
  #cpuAtSince = 0;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;
  #heapBytes = 0;
  /** Workers started (first use, after an idle stop, or a restart) and stopped for idleness. */
  starts = 0;
  idleStops = 0;
  restarts = 0;
  timeouts = 0;
  /** Most CPU one request took (reported by the worker), ms. */
  slowestCpuMs = 0;

  constructor(o: DocEngineOptions) {
    this.#o = o;
  }

  get inflight(): number {
    return this.#inflight.length;
  }
  /** 1 while the worker thread exists. */
  get running(): number {
    return this.#worker ? 1 : 0;
  }

  /** The worker's V8 heap (physical bytes) as of the last `refresh()`: a part of RSS in /debug/memory. */
  read(): number {
    return this.#worker ? this.#heapBytes : 0;
  }
  async refresh(): Promise<void> {
    const w = this.#worker;
    if (!w || typeof w.getHeapStatistics !== 'function') return;
    try {
      this.#heapBytes = (await w.getHeapStatistics()).total_physical_size;
    } catch {
      // The worker is exiting: read() reports 0 once it is gone.
    }
  }
  /** Documents the worker holds (and the engine can restore). */
  get rooms(): number {
    return this.#recovery.size;
  }
  /** Bytes kept to restore the documents after a restart. */
  get recoveryBytes(): number {
    let n = 0;
    for (const r of this.#recovery.values()) n += (r.state?.byteLength ?? 0) + r.logBytes;
    return n;
  }

  load(room: string, state: Uint8Array | null, version: number): Promise<void> {
    this.#recovery.set(room, { state, log: [], logBytes: 0, version, compacting: false });
    return this.#request({ t: 'load', room, state, updates: [], version }) as Promise<void>;
  }

  drop(room: string): void {
    if (!this.#recovery.delete(room)) return;
    // Answered like any request; nothing waits for it.
    void this.#request({ t: 'drop', room }).catch(() => {});
  }

  async apply(room: string, update: Uint8Array, lockedOut: boolean): Promise<ApplyAnswer> {
    // Bounded: a worker busy with an expensive update (or restarting) must not let every editor's
    // updates pile up in the main thread.
    const max = this.#o.maxPendingApplyBytes ?? DEFAULT_MAX_PENDING_APPLY_BYTES;
    if (this.#pendingApplyBytes > 0 && this.#pendingApplyBytes + update.byteLength > max) {
      return { applied: false, reason: 'server_busy', message: `The document server is busy (${Math.round(this.#pendingApplyBytes / 1024)} KiB of edits waiting); your change was not applied.` };
    }
    this.#pendingApplyBytes += update.byteLength;
    let a: ApplyAnswer;
    try {
      a = (await this.#request({ t: 'apply', room, update, lockedOut, maxDocBytes: this.#o.maxDocBytes, maxStructs: this.#o.maxUpdateStructs })) as ApplyAnswer;
    } finally {
      this.#pendingApplyBytes -= update.byteLength;
    }
    const rec = this.#recovery.get(room);
    if (a.applied && rec) {
      // Never backwards (a restored worker counts on from here; the rooms compare versions to know what is stored).
      rec.version = Math.max(rec.version, a.version);
      if (a.update) {
        rec.log.push(a.update);
        rec.logBytes += a.update.byteLength;
        if (rec.logBytes > Math.max(64 * 1024, this.#o.maxDocBytes / 4) && !rec.compacting) {
          rec.compacting = true;
          this.encode(room).then(
            () => (rec.compacting = false),
            () => (rec.compacting = false),
          );
        }
      }
    }
    return a;
  }

  /** The whole state (or what a peer with `stateVector` lacks) and the version it is at. */
  async encode(room: string, stateVector?: Uint8Array): Promise<{ state: Uint8Array; version: number }> {
    const r = (await this.#request({ t: 'encode', room, stateVector })) as { state: Uint8Array; version: number };
    const rec = this.#recovery.get(room);
    // Answers come in order: every update in the log was applied before this state was encoded.
    if (!stateVector && rec) this.#recovery.set(room, { state: r.state, log: [], logBytes: 0, version: Math.max(rec.version, r.version), compacting: rec.compacting });
    return r;
  }

  stateVector(room: string): Promise<Uint8Array> {
    return this.#request({ t: 'stateVector', room }) as Promise<Uint8Array>;
  }

  text(room: string): Promise<string> {
    return this.#request({ t: 'text', room }) as Promise<string>;
  }

  textOf(state: Uint8Array | null): Promise<string> {
    return this.#request({ t: 'textOf', state }) as Promise<string>;
  }

  /** What the engine would restore `room` from: its last full state and the updates since (for a last-chance store at dispose). */
  recovered(room: string): { state: Uint8Array | null; updates: Uint8Array[] } | undefined {
    const r = this.#recovery.get(room);
    return r && { state: r.state, updates: [...r.log] };
  }

  #request(body: Body): Promise<unknown> {
    if (this.#disposed) return Promise.reject(new Error('the document engine is closed'));
    return new Promise((resolve, reject) => {
      const req = this.#nextReq++;
      const r: Request = { req, msg: { ...body, req } as ToWorker, resolve, reject };
      this.#send(r);
    });
  }

  #send(r: Request): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (!this.#worker) this.#start();
    if (this.#inflight.length === 0 && this.#ready) this.#since = performance.now();
    this.#inflight.push(r);
    this.#worker!.postMessage(r.msg);
    this.#arm();
  }

  #start(): void {
    this.starts++;
    this.#heapBytes = 0;
    const w = new Worker(WORKER_URL, {
      resourceLimits: { maxOldGenerationSizeMb: this.#o.heapMb, maxYoungGenerationSizeMb: 16 },
    });
    // Documents own the worker's lifetime; it must never keep the process alive on its own.
    w.unref();
    this.#ready = false;
    w.on('message', (m: FromWorker) => {
      if (m.t === 'ready') {
        if (w !== this.#worker) return;
        this.#ready = true;
        this.#since = performance.now();
        this.#cpuAtSince = m.cpuMs;
        return this.#arm();
      }
      this.#onReply(w, m);
    });
    w.on('error', (err: Error) => this.#onDeath(w, `the document worker failed: ${err.message}`));
    w.on('exit', (code) => this.#onDeath(w, `the document worker exited with code ${code}`));
    this.#worker = w;
  }

  #onReply(w: Worker, m: Extract<FromWorker, { t: 'reply' }>): void {
    if (w !== this.#worker) return;
    const head = this.#inflight[0];
    if (!head || head.req !== m.req) {
      // Cannot happen while the worker answers in order; a restart is the safe way out if it does.
      return this.#restart(`the document worker answered request ${m.req} out of order`, false);
    }
    this.#inflight.shift();
    this.slowestCpuMs = Math.max(this.slowestCpuMs, m.cpuMs - this.#cpuAtSince);
    this.#since = performance.now();
    this.#cpuAtSince = m.cpuMs;
    this.#arm();
    if (m.ok) head.resolve(m.value);
    else head.reject(m.malformed ? new MalformedUpdate(m.error) : new Error(m.error));
    this.#idleCheck();
  }

  /** No document loaded and nothing asked: the worker stops after the grace, unless a request comes first. */
  #idleCheck(): void {
    if (this.#disposed || !this.#worker || this.#inflight.length || this.#recovery.size || this.#idleTimer) return;
    const stop = () => {
      this.#idleTimer = undefined;
      const w = this.#worker;
      if (this.#disposed || !w || this.#inflight.length || this.#recovery.size) return;
      this.#worker = undefined;
      this.idleStops++;
      w.removeAllListeners();
      w.on('error', () => {}); // late errors of a worker being stopped are expected
      void w.terminate();
    };
    // unref: the countdown must not keep a closing process alive; dispose clears it.
    this.#idleTimer = setTimeout(stop, Math.max(0, this.#o.idleStopMs ?? DOC_WORKER_IDLE_STOP_MS));
    this.#idleTimer.unref();
  }

  #arm(): void {
    if (!this.#inflight.length || this.#disposed || !this.#ready) {
      clearTimeout(this.#watchdog);
      this.#watchdog = undefined;
      return;
    }
    this.#watchdog ??= setTimeout(() => void this.#check(), POLL_MS);
  }

  /** Stops the worker if the request it is on has used more than its CPU allowance (or ten times that in wall time). */
  async #check(): Promise<void> {
    this.#watchdog = undefined;
    const w = this.#worker;
    if (!w || !this.#inflight.length || !this.#ready) return;
    let cpuMs: number | undefined;
    if (typeof w.cpuUsage === 'function') {
      try {
        const u = await w.cpuUsage();
        cpuMs = (u.user + u.system) / 1000;
      } catch {
        // The worker is exiting: its 'exit' handler restarts it.
      }
    }
    const head = this.#inflight[0];
    if (w !== this.#worker || this.#disposed || !head) return;
    const limit = this.#limitOf(head);
    const wall = performance.now() - this.#since;
    const used = cpuMs === undefined ? wall : cpuMs - this.#cpuAtSince;
    if (used >= limit || wall >= WALL_FACTOR * limit) {
      this.timeouts++;
      this.#restart(used >= limit ? `a request used more than ${limit} ms of CPU` : `a request took longer than ${WALL_FACTOR * limit} ms`, true);
    } else this.#arm();
  }

  #limitOf(r: Request): number {
    return r.msg.t === 'apply' ? this.#o.applyCpuMs : serverCpuMs(this.#o.applyCpuMs);
  }

  #onDeath(w: Worker, why: string): void {
    if (w !== this.#worker || this.#disposed) return;
    this.#restart(why, true);
  }

  /** Stops the worker; the request it was on fails (`culprit`), the others are sent again to a new one. */
  #restart(why: string, culprit: boolean): void {
    const old = this.#worker;
    this.#worker = undefined;
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    if (old) {
      old.removeAllListeners('message');
      old.removeAllListeners('exit');
      old.on('error', () => {}); // late errors of a worker being stopped are expected
      void old.terminate();
    }
    const waiting = this.#inflight;
    this.#inflight = [];
    const head = culprit ? waiting.shift() : undefined;
    this.restarts++;
    const m = head?.msg;
    this.#o.log.warn({ why, request: m?.t, doc: m && 'room' in m ? m.room : undefined }, 'document worker restarted; documents restored from memory');
    if (head && m) {
      if (m.t === 'apply') {
        head.resolve({
          applied: false,
          reason: 'too_expensive',
          message: `Applying this change took more than ${this.#o.applyCpuMs} ms of CPU (option --max-doc-apply-cpu-ms); it was not applied and the document is as it was.`,
        } satisfies ApplyAnswer);
      } else {
        head.reject(new Error(`${why} (${m.t}${'room' in m ? ` of document ${m.room}` : ''})`));
        // A document whose load cannot finish is not restored again.
        if (m.t === 'load') this.#recovery.delete(m.room);
      }
    }
    if (this.#disposed) {
      for (const r of waiting) r.reject(new Error('the document engine is closed'));
      return;
    }
    // Restore every document the engine knows, except those whose own load is among the waiting requests.
    const loading = new Set(waiting.flatMap((r) => (r.msg.t === 'load' ? [r.msg.room] : [])));
    for (const [room, rec] of this.#recovery) {
      if (loading.has(room)) continue;
      const restore: Request = {
        req: this.#nextReq++,
        msg: { t: 'load', req: 0, room, state: rec.state, updates: rec.log, version: rec.version },
        resolve: () => {},
        reject: (err) => {
          if (this.#recovery.delete(room)) this.#o.onLost(room, err);
        },
      };
      (restore.msg as { req: number }).req = restore.req;
      this.#send(restore);
    }
    for (const r of waiting) this.#send(r);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#watchdog);
    clearTimeout(this.#idleTimer);
    const w = this.#worker;
    this.#worker = undefined;
    for (const r of this.#inflight) r.reject(new Error('the document engine is closed'));
    this.#inflight = [];
    this.#recovery.clear();
    if (w) {
      w.removeAllListeners();
      w.on('error', () => {});
      void w.terminate();
    }
  }
}

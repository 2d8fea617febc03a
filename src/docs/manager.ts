/**
 * Every loaded document and every editor connection: opening (with LRU unload at the cap), storing
 * (debounced, with failures kept in memory and reported), unloading (after a grace, deduplicated,
 * re-checked after every await), locks through REST, the health monitor's trim, shutdown, and what
 * /debug/memory reports. The maps here are keyed by live objects only: a room leaves `#rooms` when
 * it is unloaded or deleted, a connection leaves `#connections` when its socket closes.
 */
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import * as Y from 'yjs';
import { DocEngine } from './doc-engine.ts';
import { connectionLimiter, type KeelContext } from '../context.ts';
import { CloseCode, KeelError, TooManyConnectionsError } from '../core/errors.ts';
import { DisposableBase, toDisposable } from '../core/lifecycle.ts';
import type { Slot, SlotLimiter } from '../core/slot-limiter.ts';
import { closeWith, keepAlive } from '../http/ws.ts';
import { DocConnection, type ConnectionLimits } from './connection.ts';
import { DocCloseCode } from './protocol.ts';
import { DocumentRoom, type LockJson, type RoomConfig, type RoomHooks } from './room.ts';
import { DocumentStore, type DocRecord } from './store.ts';
import { docsBudgetBytes, docWorkerHeapMb } from './budget.ts';

export { DOC_MEMORY_FACTOR, RECOVERY_FACTOR } from './budget.ts';
// For routes.ts, which loads this module (and Yjs with it) on first use only.
export { cleanName } from './connection.ts';

export interface DocView {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
  bytes: number;
  loaded: boolean;
  connections: number;
  lock: LockJson | null;
}

export function docNotFound(id: string): KeelError {
  return new KeelError(404, 'document_not_found', `No document with id "${id}". List them with GET /api/docs.`, { closeCode: DocCloseCode.deleted });
}

function tooManyDocuments(max: number): KeelError {
  return new KeelError(
    503,
    'too_many_documents',
    `Too many documents open: ${max} are in memory and every one has editors (option --max-loaded-docs). Close a document elsewhere or try again later.`,
    { closeCode: CloseCode.tryAgainLater, details: { limit: max } },
  );
}

export class DocumentManager extends DisposableBase {
  readonly docs: DocumentStore;
  readonly connectionLimiter: SlotLimiter;
  readonly #ctx: KeelContext;
  readonly #log: Logger;
  readonly #roomConfig: RoomConfig;
  readonly #roomHooks: RoomHooks;
  readonly #limits: ConnectionLimits;
  readonly #rooms = new Map<string, DocumentRoom>();
  /** Unloads in flight, one per document (Hocuspocus' dedupe): a second caller gets the same promise. */
  readonly #unloading = new Map<string, Promise<boolean>>();
  readonly #connections = new Set<DocConnection>();
  readonly #engine: DocEngine;
  #shuttingDown = false;
  #storeFailures = 0;
  #lastStoreError = '';
  #unloads = 0;
  #refused = 0;

  /** `store`: made at start by routes.ts (its migration must not wait for the first use of documents, when the database may be locked). */
  constructor(ctx: KeelContext, store: DocumentStore = new DocumentStore(ctx.db)) {
    super();
    const o = ctx.options;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ subsystem: 'docs' });
    this.docs = store;
    this.connectionLimiter = connectionLimiter(ctx, 'doc_connections', o.maxDocConnections, '--max-doc-connections');
    this.#roomConfig = {
      clock: ctx.clock,
      maxDocBytes: o.maxDocBytes,
      maxPresenceBytes: o.maxDocPresenceBytes,
      storeDebounceMs: o.docStoreDebounceMs,
      storeMaxDebounceMs: Math.max(o.docStoreMaxDebounceMs, o.docStoreDebounceMs),
      unloadGraceMs: o.docUnloadGraceMs,
      lockTtlMs: Math.min(o.docLockTtlMs, o.docLockMaxTtlMs),
      lockMaxTtlMs: o.docLockMaxTtlMs,
    };
    this.#limits = {
      maxUpdateBytes: o.maxDocUpdateBytes,
      updatesPerSecond: o.docUpdatesPerSecond,
      updateBurst: o.docUpdateBurst,
      rateLimitStrikes: o.docRateLimitStrikes,
      sendBufferBytes: o.docSendBufferBytes,
      preJoinMaxMessages: o.docPreJoinMaxMessages,
      preJoinMaxBytes: o.docPreJoinMaxBytes,
    };
    this.#roomHooks = {
      storeDue: (room) => {
        void this.storeRoom(room).then(() => room.armIdleTimer());
      },
      idle: (room) => {
        void this.unload(room, `no editor for ${o.docUnloadGraceMs} ms`);
      },
      lockCleared: (room, lock, reason) => {
        ctx.audit.record('docs', 'lock-release', `document ${room.id}: lock of ${lock.name} (${lock.holder}) released (${reason})`);
      },
      failed: (room, err) => this.#roomFailed(room, err),
    };
    this.#engine = new DocEngine({
      applyCpuMs: o.maxDocApplyCpuMs,
      maxDocBytes: o.maxDocBytes,
      maxUpdateStructs: o.maxDocUpdateStructs,
      maxPendingApplyBytes: o.maxDocPendingUpdateBytes,
      heapMb: docWorkerHeapMb(o.maxLoadedDocs, o.maxDocBytes),
      idleStopMs: o.docWorkerIdleMs,
      log: this.#log,
      onLost: (id, err) => {
        const room = this.#rooms.get(id);
        if (room) this.#roomFailed(room, err);
      },
    });
    // Registered first, so disposed last (reverse order): the last-chance stores find their recovery data.
    this.register(this.#engine);
    ctx.observe.addMemoryPart('doc_worker', this.#engine);
    this.register(toDisposable(() => this.#disposeAll()));
  }

  // --- REST -----------------------------------------------------------------------------------

  create(title: string): DocView {
    if (this.#shuttingDown) throw shuttingDown();
    return this.#view(this.docs.create(title, this.#ctx.clock.now()));
  }

  list(limit: number): DocView[] {
    return this.docs.list(limit).map((r) => this.#view(r));
  }

  get(id: string): DocView {
    const r = this.docs.get(id);
    if (!r) throw docNotFound(id);
    return this.#view(r);
  }

  rename(id: string, title: string): DocView {
    const r = this.docs.rename(id, title, this.#ctx.clock.now());
    if (!r) throw docNotFound(id);
    const room = this.#rooms.get(id);
    if (room) {
      room.title = title;
      for (const m of room.members) (m as DocConnection).control({ type: 'title', title });
    }
    return this.#view(r);
  }

  /** Deletes a document: its editors are told and closed (4404), its room dropped unsaved. */
  delete(id: string): void {
    if (!this.docs.get(id)) throw docNotFound(id);
    const room = this.#rooms.get(id);
    if (room) {
      for (const m of [...room.members]) (m as DocConnection).fail(DocCloseCode.deleted, 'document_deleted', 'This document was deleted.');
      this.#rooms.delete(id);
      room.dispose();
    }
    this.docs.delete(id);
  }

  /** The document's text (Markdown source); read from SQLite without loading it as a room when not in memory. */
  async exportMarkdown(id: string): Promise<{ title: string; text: string }> {
    const rec = this.docs.get(id);
    if (!rec) throw docNotFound(id);
    const room = this.#rooms.get(id);
    try {
      if (room && !room.isDisposed) return { title: rec.title, text: await room.text() };
      return { title: rec.title, text: await this.#engine.textOf(this.docs.loadState(id)) };
    } catch (err) {
      this.#log.error({ err, doc: id }, 'exporting a document failed');
      throw new KeelError(500, 'export_failed', `Document ${id} could not be read: ${(err as Error).message}. Try again; the error is logged.`);
    }
  }

  lock(id: string, connectionId: string, ttlMs?: number): LockJson {
    const conn = this.#member(id, connectionId);
    const r = conn.room!.acquireLock(conn, ttlMs);
    if ('reason' in r) throw new KeelError(409, 'locked', r.message, { details: { lock: r.lock } });
    return r.lock;
  }

  unlock(id: string, opts: { connection?: string; force?: boolean }): void {
    if (!this.docs.get(id)) throw docNotFound(id);
    const room = this.#rooms.get(id);
    if (opts.force) {
      room?.releaseLock(null, true);
      return;
    }
    const conn = this.#member(id, opts.connection ?? '');
    const r = conn.room!.releaseLock(conn);
    if (typeof r === 'object') throw new KeelError(409, 'not_lock_holder', r.message, { details: { lock: r.lock } });
  }

  #member(id: string, connectionId: string): DocConnection {
    if (!this.docs.get(id)) throw docNotFound(id);
    const room = this.#rooms.get(id);
    for (const m of room?.members ?? []) if (m.id === connectionId) return m as DocConnection;
    throw new KeelError(404, 'connection_not_found', `No open connection "${connectionId}" on document ${id}. A lock belongs to an open editor: open GET /api/docs/${id}/ws and use the connection id from its hello message.`);
  }

  #view(r: DocRecord): DocView {
    const room = this.#rooms.get(r.id);
    return {
      id: r.id,
      title: r.title,
      createdAt: new Date(r.createdAt).toISOString(),
      updatedAt: new Date(r.updatedAt).toISOString(),
      bytes: room && room.dirty ? room.bytes : r.bytes,
      loaded: !!room,
      connections: room?.members.size ?? 0,
      lock: room?.lockJson() ?? null,
    };
  }

  // --- connections ----------------------------------------------------------------------------

  /** The cheap check before an upgrade, so refusals are plain HTTP with the JSON body. */
  assertCanConnect(id: string): void {
    if (this.#shuttingDown) throw shuttingDown();
    if (!this.docs.get(id)) throw docNotFound(id);
    this.connectionLimiter.acquire().dispose();
    const room = this.#rooms.get(id);
    if (room && room.members.size >= this.#ctx.options.maxConnectionsPerDoc) throw this.#tooManyInDoc(id);
    if (!room && this.#rooms.size >= this.#ctx.options.maxLoadedDocs && !this.#unloading.size && !this.#idleRooms().length) {
      throw tooManyDocuments(this.#ctx.options.maxLoadedDocs);
    }
  }

  /** Takes over an upgraded socket: a connection is created at once (buffering), then joined. */
  connect(socket: WebSocket, id: string, name: string, slot: Slot): void {
    const conn = new DocConnection(socket, name, {
      limits: this.#limits,
      clock: this.#ctx.clock,
      log: this.#log,
      hooks: { refused: () => void this.#refused++ },
    });
    conn.own(slot);
    this.#connections.add(conn);
    conn.own(toDisposable(() => this.#connections.delete(conn)));
    conn.own(keepAlive(socket, this.#ctx.options.docPingMs));
    if (this.#shuttingDown) return closeWith(socket, CloseCode.goingAway, 'Keel is shutting down');
    const o = this.#ctx.options;
    const hello = {
      limits: {
        maxDocBytes: o.maxDocBytes,
        maxUpdateBytes: o.maxDocUpdateBytes,
        updatesPerSecond: o.docUpdatesPerSecond,
        updateBurst: o.docUpdateBurst,
        maxPresenceBytes: o.maxDocPresenceBytes,
        lockTtlMs: this.#roomConfig.lockTtlMs,
        lockMaxTtlMs: o.docLockMaxTtlMs,
      },
    };
    this.#open(id, (room) => {
      if (conn.isDisposed) return; // the socket closed while the document was loading
      if (room.members.size >= o.maxConnectionsPerDoc) {
        const err = this.#tooManyInDoc(id);
        return closeWith(socket, err.closeCode, err.message);
      }
      conn.attach(room, hello);
    }).catch((err) => {
      if (err instanceof KeelError) {
        const code = err.status === 404 ? DocCloseCode.deleted : err.closeCode;
        conn.fail(code, err.code, err.message);
      } else {
        this.#log.error({ err, doc: id }, 'opening a document failed');
        conn.fail(CloseCode.internalError, 'internal_error', 'The document could not be opened; the error is logged.');
      }
    });
  }

  /**
   * Finds or loads the room and calls `join` with it synchronously (no await between finding it and
   * joining, so an unload cannot slip in between). A room that nobody joins starts its grace.
   */
  async #open(id: string, join: (room: DocumentRoom) => void): Promise<void> {
    const max = this.#ctx.options.maxLoadedDocs;
    // Bounded: each round either returns or waits for an unload to finish.
    for (let round = 0; round < 8; round++) {
      let room = this.#rooms.get(id);
      if (!room) {
        const pending = this.#unloading.get(id);
        if (pending) {
          await pending;
          continue;
        }
        if (this.#rooms.size >= max) {
          if (!(await this.#evictOne())) throw tooManyDocuments(max);
          continue;
        }
        const rec = this.docs.get(id);
        if (!rec) throw docNotFound(id);
        room = new DocumentRoom(id, rec.title, this.docs.loadState(id), this.#roomConfig, this.#roomHooks, this.#engine);
        this.#rooms.set(id, room);
      }
      // A room whose unload is storing right now is joined: the unload re-checks and keeps it.
      join(room);
      room.armIdleTimer();
      return;
    }
    throw tooManyDocuments(max);
  }

  /** Unloads the least recently used room without editors; false when there is none. */
  async #evictOne(): Promise<boolean> {
    for (const room of this.#idleRooms().sort((a, b) => a.lastActive - b.lastActive)) {
      if (await this.unload(room, `least recently used, ${this.#ctx.options.maxLoadedDocs} documents loaded (--max-loaded-docs)`)) return true;
    }
    const any = this.#unloading.values().next();
    if (!any.done) {
      await any.value;
      return true;
    }
    return false;
  }

  #idleRooms(): DocumentRoom[] {
    return [...this.#rooms.values()].filter((r) => r.idle && !this.#unloading.has(r.id));
  }

  #tooManyInDoc(id: string): TooManyConnectionsError {
    return new TooManyConnectionsError(`editors of document ${id}`, this.#ctx.options.maxConnectionsPerDoc, '--max-connections-per-doc');
  }

  // --- store and unload -----------------------------------------------------------------------

  /** Stores the room if it has unsaved edits; resolves true when it is clean afterwards. */
  async storeRoom(room: DocumentRoom): Promise<boolean> {
    // Bounded wait for a store already running (each round waits for one to finish).
    for (let i = 0; i < 4 && room.storing; i++) await room.storing;
    if (room.isDisposed) return true;
    if (!room.dirty || room.storing) return !room.dirty;
    const p = (async () => {
      try {
        const { state, version } = await room.beginStore();
        await this.docs.saveState(room.id, state, this.#ctx.clock.now());
        room.storeSucceeded(version, state.byteLength);
      } catch (err) {
        // Never lose edits: the document stays in memory, dirty, and the store is retried.
        const message = (err as Error)?.message ?? String(err);
        this.#storeFailures++;
        this.#lastStoreError = `${room.id}: ${message}`.slice(0, 300);
        this.#log.error({ err, doc: room.id }, 'storing a document failed; it stays in memory and the store is retried');
        this.#ctx.audit.record('docs', 'store-failed', `document ${room.id} could not be stored (kept in memory, retried): ${message}`);
        room.storeFailed(message, this.#roomConfig.storeMaxDebounceMs);
      }
    })();
    room.storing = p;
    try {
      await p;
    } finally {
      if (room.storing === p) room.storing = undefined;
    }
    return !room.dirty;
  }

  /** Stores and unloads a room nobody is in; concurrent calls for one document share one unload. */
  unload(room: DocumentRoom, reason: string): Promise<boolean> {
    const running = this.#unloading.get(room.id);
    if (running) return running;
    const p = this.#unload(room, reason).finally(() => {
      if (this.#unloading.get(room.id) === p) this.#unloading.delete(room.id);
    });
    this.#unloading.set(room.id, p);
    return p;
  }

  async #unload(room: DocumentRoom, reason: string): Promise<boolean> {
    if (room.isDisposed || room.members.size > 0) return false;
    const clean = await this.storeRoom(room);
    // Re-check after the await: an editor may have joined, or the document been deleted.
    if (room.isDisposed || room.members.size > 0) return false;
    if (!clean || room.dirty || room.storing) return false; // the store failed: keep the edits in memory
    if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
    room.dispose();
    this.#unloads++;
    this.#ctx.audit.record('docs', 'unload', `document ${room.id} (${room.title.slice(0, 60)}) stored and unloaded: ${reason}`);
    return true;
  }

  /** Health-monitor trim: every document without editors is stored and unloaded now. */
  trim(): string {
    const idle = this.#idleRooms();
    for (const r of idle) void this.unload(r, 'memory warning');
    return `unloading ${idle.length} document(s) without editors`;
  }

  /** Shutdown: store every dirty document, then tell every editor (1001). */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const room of [...this.#rooms.values()]) await this.storeRoom(room);
    for (const c of this.#connections) closeWith(c.socket, CloseCode.goingAway, 'Keel is shutting down');
  }

  #disposeAll(): void {
    this.#shuttingDown = true;
    for (const c of [...this.#connections]) {
      closeWith(c.socket, CloseCode.goingAway, 'Keel is shutting down');
      c.dispose();
    }
    for (const room of this.#rooms.values()) {
      // Last chance (shutdown() normally stored them): the worker cannot answer in time, so the
      // state is merged here from what the engine keeps to restore it (Y.mergeUpdates reads and
      // rewrites structs without integrating them: linear, and these updates were all applied once).
      if (room.dirty && !room.storing) {
        const rec = this.#engine.recovered(room.id);
        if (rec) {
          const parts = [rec.state ?? new Uint8Array([0, 0]), ...rec.updates];
          void this.docs.saveState(room.id, parts.length === 1 ? parts[0]! : Y.mergeUpdates(parts), this.#ctx.clock.now()).catch((err) => {
            this.#log.error({ err, doc: room.id }, 'storing a document at shutdown failed');
          });
        }
      }
      room.dispose();
    }
    this.#rooms.clear();
  }

  /** The room's document could not be loaded or restored: its editors are told (1011) and it is dropped, unsaved edits with it. */
  #roomFailed(room: DocumentRoom, err: Error): void {
    this.#log.error({ err, doc: room.id }, 'a document could not be loaded');
    this.#ctx.audit.record('docs', 'load-failed', `document ${room.id} could not be loaded: ${err.message}`);
    for (const m of [...room.members]) (m as DocConnection).fail(CloseCode.internalError, 'internal_error', `The document could not be opened: ${err.message}`);
    if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
    room.dispose();
  }

  // --- observability --------------------------------------------------------------------------

  stats(): Record<string, number | string> {
    let dirty = 0;
    let storing = 0;
    let locks = 0;
    let bytes = 0;
    let presence = 0;
    for (const r of this.#rooms.values()) {
      if (r.dirty) dirty++;
      if (r.storing) storing++;
      if (r.locked) locks++;
      bytes += r.bytes;
      presence += r.presenceCount;
    }
    let behind = 0;
    for (const c of this.#connections) if (c.behind) behind++;
    return {
      documents_loaded: this.#rooms.size,
      max_loaded_documents: this.#ctx.options.maxLoadedDocs,
      connections: this.#connections.size,
      dirty_documents: dirty,
      stores_in_flight: storing,
      store_failures: this.#storeFailures,
      last_store_error: this.#lastStoreError,
      unloads: this.#unloads,
      unloading: this.#unloading.size,
      locks_held: locks,
      doc_bytes: bytes,
      presence_entries: presence,
      // One token bucket per live connection, owned by it: this is the per-client rate-limit state.
      rate_limit_buckets: this.#connections.size,
      behind_connections: behind,
      refused_updates: this.#refused,
      yjs_loaded: 1,
      worker_running: this.#engine.running,
      worker_starts: this.#engine.starts,
      worker_idle_stops: this.#engine.idleStops,
      worker_requests_in_flight: this.#engine.inflight,
      worker_documents: this.#engine.rooms,
      worker_restarts: this.#engine.restarts,
      apply_timeouts: this.#engine.timeouts,
      slowest_request_cpu_ms: Math.round(this.#engine.slowestCpuMs),
      recovery_bytes: this.#engine.recoveryBytes,
    };
  }

  /** Worst-case bytes from the limits (see the note registered with it). */
  budgetBytes(): number {
    return docsBudgetBytes(this.#ctx.options);
  }

  /** For tests: the loaded room of `id`, if any. */
  room(id: string): DocumentRoom | undefined {
    return this.#rooms.get(id);
  }
}

function shuttingDown(): KeelError {
  return new KeelError(503, 'shutting_down', 'Keel is shutting down; try again after it restarts.', { closeCode: CloseCode.goingAway });
}

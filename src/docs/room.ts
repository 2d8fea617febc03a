/**
 * One loaded document and the editors in it: the presence table, the edit lock (a lease), the
 * debounced store schedule and the unload grace timer. The Y.Doc itself lives in the document
 * worker (doc-engine.ts): every Yjs operation is a request to it, answered in order, so an answer
 * reflects every edit sent before it. Everything a member owns here (presence entries, the lock)
 * is removed in `leave`, so nothing in a room outlives its client. The room never talks to sockets
 * or SQLite: members are `RoomMember`s, storing and unloading are the manager's, asked for through
 * `RoomHooks`.
 */
import type { Clock } from '../core/clock.ts';
import type { Disposable } from '../core/lifecycle.ts';
import { MalformedUpdate, type DocEngine } from './doc-engine.ts';
import { awarenessMessage, controlMessage, MalformedMessage, syncStep1Message, syncStep2Message, updateMessage, type AwarenessEntry } from './protocol.ts';

export { CONTENT_NAME } from './schema.ts';
/** Presence entries one connection may own (one per Y.Doc in the page; a few tabs share none). */
export const MAX_PRESENCE_PER_MEMBER = 4;
/** Shortest lock a client may ask for. */
export const MIN_LOCK_TTL_MS = 1_000;

/** A connected editor as the room sees it. */
export interface RoomMember {
  readonly id: string;
  readonly name: string;
  /** Client ids of the awareness entries this member owns in its room. */
  readonly presenceIds: Set<number>;
  send(data: Uint8Array): void;
}

export interface LockJson {
  holder: string;
  name: string;
  acquiredAt: string;
  expiresAt: string;
  ttlMs: number;
}

export type LockReason = 'acquired' | 'renewed' | 'released' | 'expired' | 'disconnected' | 'broken' | 'deleted';

/** Why an update, presence entry or lock request was not applied. */
export interface Refusal {
  reason: 'locked' | 'lock_held' | 'document_too_large' | 'presence_too_large' | 'not_lock_holder' | 'unsupported_content' | 'too_many_structs' | 'too_expensive' | 'server_busy';
  message: string;
  lock?: LockJson;
}

export interface RoomConfig {
  clock: Clock;
  maxDocBytes: number;
  maxPresenceBytes: number;
  storeDebounceMs: number;
  storeMaxDebounceMs: number;
  unloadGraceMs: number;
  lockTtlMs: number;
  lockMaxTtlMs: number;
}

export interface RoomHooks {
  /** The debounce elapsed: store now. */
  storeDue(room: DocumentRoom): void;
  /** The last member left and the grace elapsed: store and unload. */
  idle(room: DocumentRoom): void;
  /** A lock ended for a reason other than its holder's unlock (for the cleanup log). */
  lockCleared(room: DocumentRoom, lock: LockJson, reason: LockReason): void;
  /** The document could not be loaded (or restored after a worker restart): the room is unusable. */
  failed(room: DocumentRoom, err: Error): void;
}

interface Lease {
  holder: RoomMember;
  acquiredAt: number;
  expiresAt: number;
  ttlMs: number;
  timer: Disposable;
}

interface PresenceEntry {
  clock: number;
  state: string;
  member: RoomMember;
}

export class DocumentRoom {
  readonly id: string;
  title: string;
  readonly members = new Set<RoomMember>();
  /** Last join, leave or edit (LRU order for unloading). */
  lastActive: number;
  /** The store running now, if any (the manager's). */
  storing: Promise<void> | undefined;
  lastStoreError: string | undefined;
  readonly #cfg: RoomConfig;
  readonly #hooks: RoomHooks;
  readonly #engine: DocEngine;
  readonly #presence = new Map<number, PresenceEntry>();
  #lease: Lease | undefined;
  #version = 0;
  #storedVersion = 0;
  /** Encoded size, as the worker last reported it (exact after load and store, an estimate between). */
  #bytes: number;
  #firstDirtyAt: number | undefined;
  #storeTimer: Disposable | undefined;
  #idleTimer: Disposable | undefined;
  #disposed = false;

  /** Loads the stored `state` into the worker; requests made meanwhile are answered after it (in order). */
  constructor(id: string, title: string, state: Uint8Array | null, cfg: RoomConfig, hooks: RoomHooks, engine: DocEngine) {
    this.id = id;
    this.title = title;
    this.#cfg = cfg;
    this.#hooks = hooks;
    this.#engine = engine;
    this.#bytes = state?.byteLength ?? 0;
    this.lastActive = cfg.clock.now();
    engine.load(id, state, 0).catch((err: Error) => {
      if (!this.#disposed) hooks.failed(this, err);
    });
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }
  get dirty(): boolean {
    return this.#version !== this.#storedVersion;
  }
  get version(): number {
    return this.#version;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get presenceCount(): number {
    return this.#presence.size;
  }
  /** Nobody is in it and no store is running: it may be unloaded. */
  get idle(): boolean {
    return this.members.size === 0 && !this.storing && !this.#disposed;
  }

  /** The text as of every edit applied before this call. */
  text(): Promise<string> {
    return this.#engine.text(this.id);
  }

  /** SyncStep2 for a peer at `stateVector` (everything without one). */
  async syncStep2(stateVector?: Uint8Array): Promise<Uint8Array> {
    return syncStep2Message((await this.#engine.encode(this.id, stateVector)).state);
  }

  /** The whole state as an update (tests, export). */
  async encodeState(): Promise<Uint8Array> {
    return (await this.#engine.encode(this.id)).state;
  }

  // --- members ------------------------------------------------------------------------------

  /** Adds a member and sends it what a joining client needs: its hello, our SyncStep1, presence. */
  join(member: RoomMember, hello: object): void {
    if (this.#disposed) throw new Error(`document ${this.id} is unloaded`);
    this.#idleTimer?.dispose();
    this.#idleTimer = undefined;
    this.members.add(member);
    this.lastActive = this.#cfg.clock.now();
    member.send(controlMessage({ type: 'hello', ...hello, document: { id: this.id, title: this.title }, lock: this.lockJson() }));
    if (this.#presence.size) member.send(this.#presenceSnapshot());
    // A member gone meanwhile is not sent to (send checks its socket); a failed load closes everyone.
    this.#engine.stateVector(this.id).then(
      (sv) => this.members.has(member) && member.send(syncStep1Message(sv)),
      () => {},
    );
  }

  /** Removes a member and everything it owns here (presence, lock); starts the grace when empty. */
  leave(member: RoomMember): void {
    if (!this.members.delete(member)) return;
    const gone: AwarenessEntry[] = [];
    for (const id of member.presenceIds) {
      const e = this.#presence.get(id);
      if (e?.member === member) {
        this.#presence.delete(id);
        gone.push({ clientId: id, clock: e.clock + 1, state: 'null' });
      }
    }
    member.presenceIds.clear();
    if (gone.length) this.broadcast(awarenessMessage(gone));
    if (this.#lease?.holder === member) this.#clearLock('disconnected');
    this.lastActive = this.#cfg.clock.now();
    this.armIdleTimer();
  }

  /** Starts the unload grace if nobody is here and it is not running yet. */
  armIdleTimer(): void {
    if (this.members.size > 0 || this.#disposed || this.#idleTimer) return;
    this.#idleTimer = this.#cfg.clock.setTimeout(() => {
      this.#idleTimer = undefined;
      this.#hooks.idle(this);
    }, this.#cfg.unloadGraceMs);
  }

  broadcast(data: Uint8Array, except?: RoomMember): void {
    for (const m of this.members) if (m !== except) m.send(data);
  }

  // --- edits --------------------------------------------------------------------------------

  /**
   * Applies a client's update in the worker unless the schema, the lock, the size limit or the time
   * limit refuses it (doc-engine.ts, schema.ts); resolves to the refusal, if any. Rejects with
   * MalformedMessage if the update does not decode: it is parsed in full before anything touches the
   * document, so a garbage frame never leaves the shared state half-applied.
   */
  async applyUpdate(member: RoomMember, update: Uint8Array): Promise<Refusal | undefined> {
    const lease = this.#activeLease();
    const lockedOut = !!lease && lease.holder !== member;
    const locked = lockedOut ? { message: `${lease.holder.name} is editing this document alone until ${new Date(lease.expiresAt).toISOString()}; your change was not applied.`, lock: this.lockJson()! } : undefined;
    let a;
    try {
      a = await this.#engine.apply(this.id, update, lockedOut);
    } catch (err) {
      if (err instanceof MalformedUpdate) throw new MalformedMessage(err.message);
      throw err;
    }
    if (!a.applied) return a.reason === 'locked' ? { reason: 'locked', ...locked! } : { reason: a.reason, message: a.message };
    if (this.#disposed) return undefined;
    this.#bytes = a.bytes;
    if (a.update) this.#onUpdate(a.update, a.version, member);
    return undefined;
  }

  #onUpdate(update: Uint8Array, version: number, origin: RoomMember): void {
    this.#version = version;
    const now = this.#cfg.clock.now();
    this.lastActive = now;
    this.broadcast(updateMessage(update), origin);
    this.#firstDirtyAt ??= now;
    this.#storeTimer?.dispose();
    const delay = Math.max(0, Math.min(this.#cfg.storeDebounceMs, this.#firstDirtyAt + this.#cfg.storeMaxDebounceMs - now));
    this.#storeTimer = this.#cfg.clock.setTimeout(this.#storeDue, delay);
  }

  #storeDue = (): void => {
    this.#storeTimer = undefined;
    if (!this.#disposed) this.#hooks.storeDue(this);
  };

  /** Called by the manager as a store starts: resolves to the state to write and its version. */
  beginStore(): Promise<{ state: Uint8Array; version: number }> {
    this.#storeTimer?.dispose();
    this.#storeTimer = undefined;
    this.#firstDirtyAt = undefined;
    return this.#engine.encode(this.id);
  }

  /** The store of `version` succeeded. */
  storeSucceeded(version: number, bytes: number): void {
    this.#storedVersion = Math.max(this.#storedVersion, version);
    if (version === this.#version) this.#bytes = bytes;
    this.lastStoreError = undefined;
  }

  /** The store failed: the edits stay here, dirty, and the store is retried after `retryMs`. */
  storeFailed(message: string, retryMs: number): void {
    this.lastStoreError = message;
    if (this.#disposed || this.#storeTimer) return;
    this.#firstDirtyAt ??= this.#cfg.clock.now();
    this.#storeTimer = this.#cfg.clock.setTimeout(this.#storeDue, retryMs);
  }

  // --- presence -----------------------------------------------------------------------------

  /** Applies a member's awareness entries; entries of other members' clients are ignored. */
  applyPresence(member: RoomMember, entries: AwarenessEntry[]): Refusal | undefined {
    const accepted: AwarenessEntry[] = [];
    let refusal: Refusal | undefined;
    for (const e of entries) {
      const cur = this.#presence.get(e.clientId);
      if (cur && cur.member !== member) continue; // another client's presence: not yours to change
      if (e.state === 'null') {
        if (!cur) continue;
        this.#presence.delete(e.clientId);
        member.presenceIds.delete(e.clientId);
        accepted.push(e);
        continue;
      }
      if (Buffer.byteLength(e.state) > this.#cfg.maxPresenceBytes) {
        refusal = { reason: 'presence_too_large', message: `A presence state is at most ${this.#cfg.maxPresenceBytes} bytes (option --max-doc-presence-bytes); yours was not shared.` };
        continue;
      }
      if (cur && e.clock < cur.clock) continue; // stale, reordered
      if (!cur && member.presenceIds.size >= MAX_PRESENCE_PER_MEMBER) continue;
      this.#presence.set(e.clientId, { clock: e.clock, state: e.state, member });
      member.presenceIds.add(e.clientId);
      accepted.push(e);
    }
    // To everyone, the sender included: y-websocket treats 30 s without any message as a dead link,
    // and its own presence echo (renewed every 15 s) is what keeps a lone editor connected.
    if (accepted.length) this.broadcast(awarenessMessage(accepted));
    return refusal;
  }

  presenceSnapshotFor(member: RoomMember): void {
    member.send(this.#presenceSnapshot());
  }

  #presenceSnapshot(): Uint8Array {
    return awarenessMessage([...this.#presence].map(([clientId, e]) => ({ clientId, clock: e.clock, state: e.state })));
  }

  // --- lock ---------------------------------------------------------------------------------

  lockJson(): LockJson | null {
    const l = this.#activeLease();
    if (!l) return null;
    return { holder: l.holder.id, name: l.holder.name, acquiredAt: new Date(l.acquiredAt).toISOString(), expiresAt: new Date(l.expiresAt).toISOString(), ttlMs: l.ttlMs };
  }

  get locked(): boolean {
    return !!this.#activeLease();
  }

  /** Acquires the lock for `member`, or renews it if it holds it already. */
  acquireLock(member: RoomMember, ttlMs?: number): { lock: LockJson } | Refusal {
    const cur = this.#activeLease();
    if (cur && cur.holder !== member) {
      return { reason: 'lock_held', message: `${cur.holder.name} holds the lock until ${new Date(cur.expiresAt).toISOString()}.`, lock: this.lockJson()! };
    }
    const ttl = Math.min(Math.max(ttlMs ?? this.#cfg.lockTtlMs, MIN_LOCK_TTL_MS), this.#cfg.lockMaxTtlMs);
    const now = this.#cfg.clock.now();
    cur?.timer.dispose();
    this.#lease = {
      holder: member,
      acquiredAt: cur?.acquiredAt ?? now,
      expiresAt: now + ttl,
      ttlMs: ttl,
      timer: this.#cfg.clock.setTimeout(() => this.#activeLease(), ttl),
    };
    const lock = this.lockJson()!;
    this.broadcast(controlMessage({ type: 'lock', lock, reason: cur ? 'renewed' : 'acquired' }));
    return { lock };
  }

  /** Releases the lock: by its holder, or by anyone with `force`. */
  releaseLock(member: RoomMember | null, force = false): 'released' | 'none' | Refusal {
    const cur = this.#activeLease();
    if (!cur) return 'none';
    if (!force && cur.holder !== member) return { reason: 'not_lock_holder', message: `The lock is held by ${cur.holder.name}, not by this connection.`, lock: this.lockJson()! };
    this.#clearLock(force && cur.holder !== member ? 'broken' : 'released');
    return 'released';
  }

  /** The current lease, sweeping it first if it has expired (the timer or a late call finds it so). */
  #activeLease(): Lease | undefined {
    const l = this.#lease;
    if (l && l.expiresAt <= this.#cfg.clock.now()) {
      this.#clearLock('expired');
      return undefined;
    }
    return l;
  }

  #clearLock(reason: LockReason): void {
    const l = this.#lease;
    if (!l) return;
    const json: LockJson = { holder: l.holder.id, name: l.holder.name, acquiredAt: new Date(l.acquiredAt).toISOString(), expiresAt: new Date(l.expiresAt).toISOString(), ttlMs: l.ttlMs };
    l.timer.dispose();
    this.#lease = undefined;
    this.broadcast(controlMessage({ type: 'lock', lock: null, reason }));
    if (reason !== 'released') this.#hooks.lockCleared(this, json, reason);
  }

  // --- teardown -----------------------------------------------------------------------------

  /** Frees the document. The manager has closed the members' sockets (or they are gone). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#storeTimer?.dispose();
    this.#idleTimer?.dispose();
    this.#lease?.timer.dispose();
    this.#lease = undefined;
    this.#presence.clear();
    for (const m of this.members) m.presenceIds.clear();
    this.members.clear();
    this.#engine.drop(this.id);
  }
}

/**
 * One editor's WebSocket: decodes its frames, applies the per-connection limits (rate-limit bucket,
 * update size, pre-join buffer, send buffer) and hands edits, presence and lock requests to its
 * room. Everything per-client lives on this object — the token bucket included — and is released
 * with it when the socket closes: no map keyed by client outlives the client.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { Clock } from '../core/clock.ts';
import { DisposableBase, listen, toDisposable, type Disposable } from '../core/lifecycle.ts';
import { TokenBucket } from '../core/rate-limiter.ts';
import { closeWith } from '../http/ws.ts';
import { controlMessage, decodeClientMessage, DocCloseCode, MalformedMessage, type ClientMessage } from './protocol.ts';
import type { DocumentRoom, Refusal, RoomMember } from './room.ts';

export interface ConnectionLimits {
  maxUpdateBytes: number;
  updatesPerSecond: number;
  updateBurst: number;
  rateLimitStrikes: number;
  sendBufferBytes: number;
  preJoinMaxMessages: number;
  preJoinMaxBytes: number;
}

export interface ConnectionHooks {
  /** An update, presence or lock request was refused (counter for /debug/memory). */
  refused(reason: string): void;
}

/** How often a client that fell behind is checked for having drained its send buffer. */
export const DRAIN_POLL_MS = 100;
/** Longest display name kept (from `?name=`). */
export const MAX_NAME_CHARS = 64;

export function cleanName(raw: unknown): string {
  // eslint-disable-next-line no-control-regex
  const s = typeof raw === 'string' ? raw.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_NAME_CHARS) : '';
  return s || 'Anonymous';
}

export class DocConnection extends DisposableBase implements RoomMember {
  readonly id = 'c_' + crypto.randomBytes(9).toString('base64url');
  readonly name: string;
  readonly presenceIds = new Set<number>();
  readonly socket: WebSocket;
  readonly #limits: ConnectionLimits;
  readonly #hooks: ConnectionHooks;
  readonly #log: Logger;
  // The client's rate-limit state: it lives and dies with this connection.
  readonly #bucket: TokenBucket;
  #room: DocumentRoom | undefined;
  /** Frames that arrived before the room was ready (bounded by preJoinMax*). */
  #pending: Buffer[] | undefined = [];
  #pendingBytes = 0;
  #strikes = 0;
  #behind = false;
  #drainTimer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(socket: WebSocket, name: string, deps: { limits: ConnectionLimits; clock: Clock; log: Logger; hooks: ConnectionHooks }) {
    super();
    this.socket = socket;
    this.name = name;
    this.#limits = deps.limits;
    this.#hooks = deps.hooks;
    this.#log = deps.log;
    this.#bucket = new TokenBucket(deps.limits.updateBurst, deps.limits.updatesPerSecond, deps.clock);
    this.register(listen(socket, 'message', this.#onMessage));
    const onClose = () => this.dispose();
    socket.once('close', onClose);
    this.register(toDisposable(() => socket.off('close', onClose)));
    this.register(toDisposable(() => clearInterval(this.#drainTimer)));
    this.register(toDisposable(() => {
      this.#pending = undefined;
      this.#room?.leave(this);
      this.#room = undefined;
    }));
  }

  /** Ties `d` (a connection slot, the keep-alive) to this connection's lifetime. */
  own<T extends Disposable>(d: T): T {
    return this.register(d);
  }

  get room(): DocumentRoom | undefined {
    return this.#room;
  }
  get behind(): boolean {
    return this.#behind;
  }

  /** Joins the room and replays what the client sent while it was loading. */
  attach(room: DocumentRoom, hello: object): void {
    if (this.isDisposed) return;
    this.#room = room;
    room.join(this, { connection: this.id, name: this.name, ...hello });
    const pending = this.#pending ?? [];
    this.#pending = undefined;
    for (const buf of pending) {
      if (this.#closing || this.isDisposed) break;
      this.#handle(buf);
    }
  }

  send(data: Uint8Array): void {
    const s = this.socket;
    if (this.#closing || s.readyState !== s.OPEN || this.#behind) return;
    if (s.bufferedAmount + data.byteLength > this.#limits.sendBufferBytes) {
      // Backpressure before buffering: stop queueing for this reader; it gets the whole state once drained.
      this.#behind = true;
      this.#drainTimer = setInterval(() => this.#checkDrained(), DRAIN_POLL_MS);
      this.#drainTimer.unref();
      return;
    }
    s.send(data);
  }

  #checkDrained(): void {
    const s = this.socket;
    if (s.readyState !== s.OPEN || this.isDisposed) return void clearInterval(this.#drainTimer);
    if (s.bufferedAmount > this.#limits.sendBufferBytes / 4) return;
    clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#behind = false;
    const room = this.#room;
    if (!room || room.isDisposed) return;
    // Resync instead of replaying what was skipped: the full state is idempotent for the client.
    // Sent past the buffer check (it is under a quarter full now), or a document near the buffer
    // size would never get through.
    room.syncStep2().then(
      (msg) => {
        if (!this.#closing && !this.isDisposed && s.readyState === s.OPEN) s.send(msg);
      },
      (err) => this.#failed(room, err),
    );
    this.send(controlMessage({ type: 'lock', lock: room.lockJson(), reason: 'resync' }));
    room.presenceSnapshotFor(this);
  }

  control(value: object): void {
    this.send(controlMessage(value));
  }

  /** Tells the client why (an `error` message), then closes with `code`; later frames are ignored. */
  fail(code: number, error: string, message: string): void {
    if (this.#closing) return;
    this.#closing = true;
    const s = this.socket;
    if (s.readyState === s.OPEN) s.send(controlMessage({ type: 'error', code: error, message }));
    closeWith(s, code, message);
  }

  #onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.#closing || this.isDisposed) return;
    if (!isBinary) return this.fail(DocCloseCode.malformed, 'malformed_message', 'Text frames are not part of the document protocol; send binary frames.');
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (this.#pending) {
      this.#pendingBytes += buf.byteLength;
      if (this.#pending.length >= this.#limits.preJoinMaxMessages || this.#pendingBytes > this.#limits.preJoinMaxBytes) {
        return this.fail(DocCloseCode.flooding, 'flooding', `Too much sent before the document was ready (over ${this.#limits.preJoinMaxMessages} messages or ${this.#limits.preJoinMaxBytes} bytes).`);
      }
      this.#pending.push(buf);
      return;
    }
    this.#handle(buf);
  };

  #handle(buf: Buffer): void {
    const room = this.#room;
    if (!room || room.isDisposed) return;
    if (!this.#bucket.take()) {
      this.#hooks.refused('rate_limited');
      if (++this.#strikes >= this.#limits.rateLimitStrikes) {
        return this.fail(DocCloseCode.flooding, 'flooding', `Closed for flooding: ${this.#strikes} messages over the rate limit of ${this.#limits.updatesPerSecond}/s without a pause.`);
      }
      if (this.#strikes === 1) {
        this.control({ type: 'refused', reason: 'rate_limited', message: `Slow down: at most ${this.#limits.updatesPerSecond} messages per second (bursts of ${this.#limits.updateBurst}). Messages over it are not applied.` });
      }
      return;
    }
    // A pause long enough to refill the bucket ends a run of refusals (and its strikes).
    if (this.#strikes && this.#bucket.tokens >= this.#limits.updateBurst - 1) this.#strikes = 0;
    let msg: ClientMessage;
    try {
      msg = decodeClientMessage(buf);
    } catch (err) {
      return this.fail(DocCloseCode.malformed, 'malformed_message', `Malformed message: ${(err as Error).message}`);
    }
    try {
      this.#dispatch(room, msg);
    } catch (err) {
      this.#failed(room, err);
    }
  }

  #failed(room: DocumentRoom, err: unknown): void {
    // A room unloaded or deleted meanwhile answers with errors; its members were told already.
    if (this.#closing || this.isDisposed || room.isDisposed) return;
    if (err instanceof MalformedMessage) return this.fail(DocCloseCode.malformed, 'malformed_message', `Malformed message: ${err.message}`);
    this.#log.error({ err, doc: room.id }, 'document message failed');
    this.fail(1011, 'internal_error', 'Keel hit an unexpected error handling that message; it is logged.');
  }

  #dispatch(room: DocumentRoom, msg: ClientMessage): void {
    switch (msg.kind) {
      case 'sync-step1':
        // Over the send buffer the answer would only be skipped; the resync after draining covers it.
        room.syncStep2(msg.stateVector).then(
          (answer) => this.send(answer),
          (err) => this.#failed(room, err),
        );
        return;
      case 'update': {
        if (msg.update.byteLength > this.#limits.maxUpdateBytes) {
          this.#hooks.refused('update_too_large');
          return this.fail(DocCloseCode.updateTooLarge, 'update_too_large', `An update of ${msg.update.byteLength} bytes is over the limit of ${this.#limits.maxUpdateBytes} (option --max-doc-update-bytes); it was not applied.`);
        }
        room.applyUpdate(this, msg.update).then(
          (r) => this.#refused(r),
          (err) => this.#failed(room, err),
        );
        return;
      }
      case 'awareness':
        return this.#refused(room.applyPresence(this, msg.entries));
      case 'query-awareness':
        return room.presenceSnapshotFor(this);
      case 'auth':
        return; // y-protocols auth: the upgrade was authenticated already; nothing to do.
      case 'control':
        if (msg.control.type === 'lock') {
          const r = room.acquireLock(this, msg.control.ttlMs);
          if ('reason' in r) this.#refused(r);
        } else {
          const r = room.releaseLock(this);
          if (typeof r === 'object') this.#refused(r);
        }
        return;
    }
  }

  #refused(r: Refusal | undefined): void {
    if (!r || this.isDisposed) return;
    this.#hooks.refused(r.reason);
    this.control({ type: 'refused', ...r });
  }
}

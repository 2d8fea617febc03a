/**
 * One viewer: a WebSocket attached to a session, with acknowledgement-based flow control
 * (VS Code's and wetty's scheme). The viewer counts output sent and not yet acknowledged; the
 * session decides who paces the PTY and when a viewer is too slow (flow-policy.ts). A viewer that is
 * "behind" gets nothing more queued, and once it acknowledges down to the low watermark it gets a
 * fresh snapshot instead of the bytes it missed, so its memory never grows.
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '../core/errors.ts';
import { DisposableBase, disposeTimer, toDisposable, type Disposable } from '../core/lifecycle.ts';
import { closeWith } from '../http/ws.ts';
import type { SnapshotReply } from './mirror-messages.ts';
import { decodeClientFrame, encode, type ExitInfo, type Meta, type NoticeCode, type SizeRange } from './protocol.ts';

export type Role = 'owner' | 'read-only';
export type ViewerState = 'syncing' | 'live' | 'behind';

/** What a viewer needs from its session. */
export interface ViewerHost {
  readonly sizeRange: SizeRange;
  readonly highWatermarkBytes: number;
  readonly lowWatermarkBytes: number;
  /** Output gathered before it is framed. */
  readonly frameBytes: number;
  /** Most output held for a viewer waiting for its snapshot (the mirror backlog bounds it in practice). */
  readonly maxSyncPendingBytes: number;
  meta(viewer: Viewer, size?: { cols: number; rows: number }): Meta;
  snapshot(): Promise<SnapshotReply>;
  input(viewer: Viewer, data: Buffer): void;
  /** An owner typed: its device takes the size (docs/protocol.md, size). Called before its input is written. */
  typed(viewer: Viewer): void;
  /** This viewer's preferred size; applied only while it controls the size, or with `claim`. */
  resize(viewer: Viewer, cols: number, rows: number, claim: boolean): void;
  flowChanged(): void;
  removeViewer(viewer: Viewer): void;
}

/*
 * Output chunks for a viewer are gathered until the event loop has read what the PTY had (one
 * setImmediate) or `host.frameBytes` (--terminal-frame-bytes), then sent as one frame: a PTY is read
 * about 4 KiB at a time, and a frame (plus its acknowledgement) per read costs more CPU than the bytes.
 */
/** While output streams, a batch waits this long for more (a single burst, like a keystroke's echo, goes out at once). */
export const OUTPUT_BATCH_DELAY_MS = 2;
/** A PTY read this large means the program printed faster than we read (Linux hands out ≤ 4 KiB per read). */
const STREAMING_READ_BYTES = 2048;

/** More invalid frames than this on one socket is a broken or hostile client: close 1008. */
export const MAX_INVALID_FRAMES = 16;
/** Notices are skipped while this much is unsent on the socket, so a client that floods bad frames without reading cannot grow our buffers. */
const NOTICE_MAX_BUFFERED_BYTES = 64 * 1024;

type Pending = Buffer | { cols: number; rows: number };

export class Viewer extends DisposableBase {
  readonly role: Role;
  readonly #socket: WebSocket;
  readonly #host: ViewerHost;
  #state: ViewerState = 'syncing';
  #unacked = 0;
  #pending: Pending[] = [];
  #pendingBytes = 0;
  /** Generation of the snapshot request in flight; a stale reply is ignored. */
  #syncGen = 0;
  #syncDone: Promise<void> = Promise.resolve();
  #invalidFrames = 0;
  #resyncs = 0;
  /** Output accepted for this viewer (counted as unacknowledged) and not yet framed. */
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #batchFlush: Disposable | undefined;
  #lastFlushAt = 0;

  constructor(socket: WebSocket, host: ViewerHost, role: Role) {
    super();
    this.#socket = socket;
    this.#host = host;
    this.role = role;
    const onMessage = (data: Buffer | ArrayBuffer | Buffer[]) => this.#onFrame(toBuffer(data));
    const onClose = () => this.dispose();
    socket.on('message', onMessage);
    socket.once('close', onClose);
    this.register(
      toDisposable(() => {
        socket.off('message', onMessage);
        socket.off('close', onClose);
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#batchFlush?.dispose();
        this.#batch = [];
        this.#batchBytes = 0;
        host.removeViewer(this);
        // A viewer disposed by its session (not by its socket) still holds a socket: drop it.
        if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.terminate();
      }),
    );
  }

  get state(): ViewerState {
    return this.#state;
  }
  get behind(): boolean {
    return this.#state === 'behind';
  }
  get unackedBytes(): number {
    return this.#unacked;
  }
  /** Output this viewer is answerable for: sent and unacknowledged, plus held while it syncs. */
  get loadBytes(): number {
    return this.#unacked + this.#pendingBytes;
  }
  /** Output held for this viewer: waiting for its snapshot, gathered into the next frame, or unsent on the socket. */
  get queuedBytes(): number {
    return this.#pendingBytes + this.#batchBytes + this.#socket.bufferedAmount;
  }
  get resyncs(): number {
    return this.#resyncs;
  }

  /** Ties `d` (a connection slot, the keep-alive) to this viewer's lifetime. */
  own<T extends Disposable>(d: T): T {
    return this.register(d);
  }

  /** Starts the viewer: meta, then a snapshot, then live output. */
  start(): void {
    this.#resync();
  }

  /**
   * New PTY output. `behindAt`: unacknowledged bytes at or past which this viewer is behind (it is
   * really slower than the fastest pacer, or read-only with no one to keep up with; flow-policy.ts).
   */
  output(data: Buffer, behindAt: number): void {
    if (this.isDisposed) return;
    switch (this.#state) {
      case 'behind':
        return;
      case 'syncing':
        this.#pending.push(data);
        this.#pendingBytes += data.length;
        // The snapshot reply is late by more than the bound: start over with a fresher one.
        if (this.#pendingBytes > this.#host.maxSyncPendingBytes) this.#resync();
        return;
      case 'live':
        if (this.#unacked >= behindAt) return this.markBehind();
        this.#sendOutput(data);
    }
  }

  /** No more output is queued for this viewer; once it has caught up (ack to the low watermark) it gets a fresh snapshot. */
  markBehind(): void {
    if (this.#state !== 'live' || this.isDisposed) return;
    this.#state = 'behind';
    this.sendMeta();
  }

  /** The session size changed: ordered with the output, so a syncing viewer replays it in place. */
  sizeChanged(cols: number, rows: number): void {
    if (this.#state === 'syncing') this.#pending.push({ cols, rows });
    else this.sendMeta({ cols, rows });
  }

  sendMeta(size?: { cols: number; rows: number }): void {
    // A syncing viewer gets its meta with the snapshot; sending now would announce a size its screen does not have yet.
    if (this.#state === 'syncing' || this.isDisposed) return;
    this.#send(encode.meta(this.#host.meta(this, size)));
  }

  notice(code: NoticeCode, message: string): void {
    if (this.#socket.bufferedAmount > NOTICE_MAX_BUFFERED_BYTES) return;
    this.#send(encode.notice(code, message));
  }

  /**
   * The process exited: bring this viewer up to date (a behind viewer gets a final snapshot), then
   * send the exit frame and close 1000. Resolves when the frames are handed to the socket.
   */
  async finish(info: ExitInfo): Promise<void> {
    if (this.isDisposed) return;
    if (this.#state === 'behind') this.#resync();
    await this.#syncDone;
    if (this.isDisposed) return;
    this.#send(encode.exit(info));
    closeWith(this.#socket, CloseCode.normal, 'terminal exited');
  }

  /** Closes the socket; output already gathered for it goes first. */
  close(code: number, reason: string): void {
    this.#flushBatch();
    closeWith(this.#socket, code, reason);
  }

  #resync(): void {
    this.#state = 'syncing';
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#resyncs++;
    const gen = ++this.#syncGen;
    this.#syncDone = this.#host.snapshot().then(
      (snap) => {
        if (this.isDisposed || gen !== this.#syncGen) return;
        this.#state = 'live';
        this.sendMeta({ cols: snap.cols, rows: snap.rows });
        const frame = encode.snapshot(snap.data);
        this.#unacked += frame.length - 1;
        this.#send(frame);
        const pending = this.#pending;
        this.#pending = [];
        this.#pendingBytes = 0;
        for (const p of pending) {
          if (Buffer.isBuffer(p)) this.#sendOutput(p);
          else this.sendMeta(p);
        }
        this.#host.flowChanged();
      },
      (err: Error) => {
        if (this.isDisposed || gen !== this.#syncGen) return;
        // Without a mirror there is no exact screen to give: tell the client to reconnect.
        this.close(CloseCode.internalError, `terminal mirror failed: ${err.message}`);
      },
    );
  }

  #sendOutput(data: Buffer): void {
    this.#unacked += data.length;
    this.#batch.push(data);
    this.#batchBytes += data.length;
    if (this.#batchBytes >= this.#host.frameBytes) this.#flushBatch();
    else if (!this.#batchFlush) {
      // A full PTY read right after the last frame: output is streaming, so wait a little for more.
      // Anything else (a keystroke's echo, a prompt) goes out as soon as the loop is idle.
      const flush = () => this.#flushBatch();
      if (data.length >= STREAMING_READ_BYTES && performance.now() - this.#lastFlushAt < OUTPUT_BATCH_DELAY_MS) {
        this.#batchFlush = disposeTimer(setTimeout(flush, OUTPUT_BATCH_DELAY_MS));
      } else {
        const i = setImmediate(flush);
        this.#batchFlush = toDisposable(() => clearImmediate(i));
      }
    }
  }

  #flushBatch(): void {
    this.#batchFlush?.dispose();
    this.#batchFlush = undefined;
    this.#lastFlushAt = performance.now();
    if (this.#batchBytes === 0) return;
    const frame = encode.output(this.#batch);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#write(frame);
  }

  /** Any other frame: output gathered before it goes first, so the order on the wire is the order of events. */
  #send(frame: Buffer): void {
    this.#flushBatch();
    this.#write(frame);
  }

  #write(frame: Buffer): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(frame, { binary: true });
  }

  #onFrame(frame: Buffer): void {
    if (this.isDisposed) return;
    const r = decodeClientFrame(frame, this.#host.sizeRange);
    if (!r.ok) {
      if (++this.#invalidFrames > MAX_INVALID_FRAMES) {
        this.close(CloseCode.policyViolation, `more than ${MAX_INVALID_FRAMES} invalid frames`);
        return;
      }
      this.notice(r.code, r.message);
      return;
    }
    const m = r.message;
    switch (m.type) {
      case 'ack':
        // Clamped at zero: acknowledging more than was sent must not buy credit for later.
        this.#unacked = Math.max(0, this.#unacked - m.bytes);
        if (this.#state === 'behind' && this.#unacked <= this.#host.lowWatermarkBytes) this.#resync();
        this.#host.flowChanged();
        return;
      case 'input':
        if (this.role !== 'owner') return this.notice('read_only', 'This is a read-only view: input is not sent to the terminal.');
        if (!m.data.length) return;
        this.#host.typed(this);
        this.#host.input(this, m.data);
        return;
      case 'resize':
        if (this.role !== 'owner') return this.notice('read_only', 'This is a read-only view: only the owner can resize the terminal.');
        this.#host.resize(this, m.cols, m.rows, m.claim === true);
        return;
    }
  }
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

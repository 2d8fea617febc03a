/**
 * One viewer's socket to a terminal (docs/protocol.md): connects, decodes frames, acknowledges what
 * the terminal has rendered, and reconnects with backoff after a drop. The screen comes back from the
 * `s` snapshot, so nothing is replayed and nothing from the old socket is kept.
 */
import { wsUrl } from '../api.ts';
import { DisposableStore, Timer, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import { Backoff } from './backoff.ts';
import { decodeServerFrame, describeClose, encodeAck, encodeInput, encodeResize, type ExitInfo, type TerminalMeta } from './protocol.ts';

export interface ProbeResult {
  /** The terminal no longer exists: stop retrying. */
  gone?: boolean;
  /** A connection limit refused us. */
  limit?: boolean;
  /** The reason, for the user. */
  message?: string;
}

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'limited' | 'exited' | 'closed' | 'failed';

export interface ConnectionStatus {
  state: ConnectionState;
  /** For the user: why it is in this state. */
  message?: string;
  /** When the next attempt happens (reconnecting, limited). */
  retryAt?: number;
}

/** What the view does with the frames. `written` must be called once the bytes are on screen. */
export interface ConnectionSink {
  status(s: ConnectionStatus): void;
  meta(m: TerminalMeta): void;
  snapshot(data: Uint8Array, written: () => void): void;
  output(data: Uint8Array, written: () => void): void;
  exit(e: ExitInfo): void;
  notice(code: string, message: string): void;
  /**
   * Called after a close without a close frame (a refused upgrade looks like that): finds out why,
   * e.g. the terminal is gone (stop retrying) or a limit was reached (say so).
   */
  probe?(): Promise<ProbeResult>;
  /** Called when the socket opens, before any frame (e.g. to send the fitted size). */
  opened?(): void;
}

/** Acknowledge once this many rendered bytes are pending (docs/protocol.md: 5,000)… */
export const ACK_BATCH_BYTES = 5_000;
/** …or this long after the first unacknowledged write, so small outputs never pile up toward the watermark. */
export const ACK_FLUSH_MS = 50;
/** Reconnect backoff: 0.5 s doubling to 10 s with jitter (docs/protocol.md). */
export const RECONNECT = { baseMs: 500, capMs: 10_000, jitter: 0.5 } as const;
/** After "Too many connections", wait at least this long before trying again. */
export const LIMIT_RETRY_MIN_MS = 5_000;
/** Largest input frame we send; long pastes are split so no frame hits the server's 1 MiB cap. */
export const MAX_INPUT_FRAME_BYTES = 64 * 1024;

export class TerminalConnection implements Disposable {
  readonly #path: string;
  readonly #sink: ConnectionSink;
  readonly #store = new DisposableStore();
  readonly #retry = this.#store.add(new Timer());
  readonly #ackTimer = this.#store.add(new Timer());
  readonly #backoff = new Backoff(RECONNECT);
  #socket: WebSocket | undefined;
  /** Bumped for every socket: write callbacks of an older socket must not acknowledge on a new one. */
  #generation = 0;
  #pendingAck = 0;
  #state: ConnectionState = 'connecting';
  #disposed = false;
  #opened = false;

  constructor(path: string, sink: ConnectionSink) {
    this.#path = path;
    this.#sink = sink;
    // A phone coming back online or to the foreground should not wait out a long backoff.
    this.#store.add(listen(window, 'online', () => this.retryNow()));
    this.#store.add(listen(document, 'visibilitychange', () => document.visibilityState === 'visible' && this.retryNow()));
    this.#store.add(toDisposable(() => this.#closeSocket(1000, 'tab closed')));
    this.#connect();
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Whether input can be sent now. */
  get live(): boolean {
    return this.#state === 'live' && this.#socket?.readyState === WebSocket.OPEN;
  }

  sendInput(data: string | Uint8Array): boolean {
    if (!this.live) return false;
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    for (let i = 0; i < bytes.length; i += MAX_INPUT_FRAME_BYTES) {
      this.#socket!.send(encodeInput(bytes.subarray(i, i + MAX_INPUT_FRAME_BYTES)));
    }
    return true;
  }

  /** Sends this device's preferred size (`claim`: take the size for this device); false when the socket is not open. */
  sendResize(cols: number, rows: number, claim = false): boolean {
    if (this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(encodeResize(cols, rows, claim));
    return true;
  }

  /** Reconnects at once if waiting to reconnect. */
  retryNow(): void {
    if (this.#disposed || !this.#retry.pending) return;
    this.#retry.cancel();
    this.#connect();
  }

  #setStatus(s: ConnectionStatus): void {
    this.#state = s.state;
    this.#sink.status(s);
  }

  #connect(): void {
    if (this.#disposed) return;
    const gen = ++this.#generation;
    this.#pendingAck = 0;
    this.#ackTimer.cancel();
    this.#opened = false;
    this.#setStatus({ state: this.#backoff.attempt === 0 ? 'connecting' : 'reconnecting', message: this.#backoff.attempt === 0 ? undefined : 'Reconnecting…' });
    let ws: WebSocket;
    try {
      ws = new WebSocket(wsUrl(this.#path));
    } catch (err) {
      this.#setStatus({ state: 'failed', message: `Cannot open the terminal socket: ${(err as Error).message}` });
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#socket = ws;
    ws.onopen = () => {
      if (gen !== this.#generation) return;
      this.#opened = true;
      this.#sink.opened?.();
    };
    ws.onmessage = (ev) => {
      if (gen !== this.#generation) return;
      if (!(ev.data instanceof ArrayBuffer)) return; // The server sends binary frames only.
      this.#onFrame(ev.data, gen);
    };
    ws.onclose = (ev) => {
      if (gen !== this.#generation) return;
      this.#socket = undefined;
      void this.#onClose(ev.code, ev.reason);
    };
    // Errors are always followed by close; handled there.
    ws.onerror = () => {};
  }

  #onFrame(buf: ArrayBuffer, gen: number): void {
    const f = decodeServerFrame(buf);
    switch (f.type) {
      case 'meta':
        this.#sink.meta(f.meta);
        break;
      case 'snapshot':
        // The screen is back: the connection counts as established once it has its snapshot.
        this.#backoff.reset();
        if (this.#state !== 'live') this.#setStatus({ state: 'live' });
        this.#sink.snapshot(f.data, this.#written(gen, f.data.length));
        break;
      case 'output':
        if (this.#state !== 'live') this.#setStatus({ state: 'live' });
        this.#sink.output(f.data, this.#written(gen, f.data.length));
        break;
      case 'exit':
        this.#setStatus({ state: 'exited' });
        this.#sink.exit(f.exit);
        break;
      case 'notice': {
        let code = 'notice';
        let message = f.text;
        try {
          const j = JSON.parse(f.text) as { code?: unknown; message?: unknown };
          if (typeof j.code === 'string') code = j.code;
          if (typeof j.message === 'string') message = j.message;
        } catch {
          // Plain-text notice: shown as is.
        }
        this.#sink.notice(code, message);
        break;
      }
      case 'unknown':
        // Newer server, older page: ignore what we do not understand.
        break;
    }
  }

  /** The callback for xterm's write(): counts rendered bytes and acknowledges them in batches. */
  #written(gen: number, n: number): () => void {
    return () => {
      if (gen !== this.#generation || this.#disposed) return;
      this.#pendingAck += n;
      if (this.#pendingAck >= ACK_BATCH_BYTES) this.#flushAck();
      else if (!this.#ackTimer.pending) this.#ackTimer.set(() => this.#flushAck(), ACK_FLUSH_MS);
    };
  }

  #flushAck(): void {
    this.#ackTimer.cancel();
    if (this.#pendingAck <= 0) return;
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(encodeAck(this.#pendingAck));
    this.#pendingAck = 0;
  }

  async #onClose(code: number, reason: string): Promise<void> {
    if (this.#disposed) return;
    if (this.#state === 'exited') return; // `x` came first: the close is the normal end.
    const d = describeClose(code, reason);
    if (!d.retry) {
      this.#setStatus({ state: code === 1000 ? 'closed' : 'failed', message: d.message });
      return;
    }
    let { limit, message } = d;
    if (code === 1006 && !this.#opened) message = 'Cannot reach the terminal.';
    // A refused upgrade (404 gone, 401, 503 limit) reaches the page as 1006 without a reason: ask why.
    if (code === 1006 && this.#sink.probe) {
      // Not live while we ask: through a relay the probe can wait for the tunnel, and a tab that
      // still said "live" would take keys that reach no socket.
      this.#setStatus({ state: 'reconnecting', message });
      let p: ProbeResult = {};
      try {
        p = await this.#sink.probe();
      } catch {
        // Cannot tell (offline): keep retrying.
      }
      if (this.#disposed) return;
      if (p.gone) {
        this.#setStatus({ state: 'closed', message: p.message ?? 'This terminal no longer exists (it exited, was closed, or Keel restarted).' });
        return;
      }
      if (p.limit) limit = true;
      if (p.message) message = p.message;
    }
    let delay = this.#backoff.next();
    if (limit) delay = Math.max(delay, LIMIT_RETRY_MIN_MS);
    this.#setStatus({ state: limit ? 'limited' : 'reconnecting', message, retryAt: Date.now() + delay });
    this.#retry.set(() => this.#connect(), delay);
  }

  #closeSocket(code: number, reason: string): void {
    const ws = this.#socket;
    this.#socket = undefined;
    this.#generation++;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) ws.close(code, reason);
  }

  /** Drops the socket as a network failure would (tests, "reconnect" button). */
  dropForTest(): void {
    this.#socket?.close(4000, 'dropped by test');
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#store.dispose();
  }
}

/**
 * The browser's end of a tunnel: one WebSocket to the relay for one host, the end-to-end handshake
 * as initiator, then a session that opens streams. `TunnelClient` reconnects with exponential
 * backoff and full jitter when the tunnel drops, and stops for good when the host refuses the
 * pairing. Runs in browsers and in Node (tests), on the standard WebSocket and WebCrypto only.
 */
import { HttpExchange, WsStream, type StreamHandler, type TunnelRequest, type TunnelResponse, type WsHandlers } from './client-streams.ts';
import { TunnelClose, TunnelError } from './errors.ts';
import { DEFAULT_DIRECT_LIMITS, DirectAnswer, parseSignal, type DirectLimits, type MakePeer } from './direct.ts';
import { MIN_WINDOW_BYTES, Mux, Op, type OpCode } from './mux.ts';
import { PathSwitch, type PathKind } from './paths.ts';
import { SecureChannel, closeToError, type FrameTransport } from './secure-channel.ts';

/** What the relay says first on a browser socket (a text message; everything after it is binary). */
export interface RelayHello {
  relay: number;
  /** Bytes the relay queues per tunnel and direction before it closes the tunnel: the window to declare. */
  windowBytes: number;
  maxFrameBytes: number;
}

export type TunnelState = 'connecting' | 'open' | 'reconnecting' | 'refused' | 'stopped';

export interface TunnelClientOptions {
  /** ws:// or wss:// URL of the relay's browser endpoint for this host (…/relay/connect/<hostId>). */
  url: string;
  hostId: string;
  pairingId: string;
  psk: CryptoKey;
  WebSocket?: typeof WebSocket;
  handshakeTimeoutMs?: number;
  /** Interval of the end-to-end keepalive; a host silent for 2.5 intervals is taken as gone. */
  pingMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Window this browser grants per stream. */
  streamWindowBytes?: number;
  /** Try a direct WebRTC path once the tunnel is open (the browser's RTCPeerConnection; werift in Node). */
  direct?: DirectConfig;
  onState?(state: TunnelState, detail: { message?: string; code?: number }): void;
  /** The path the tunnel's traffic takes changed: "direct" (WebRTC) or "relayed". */
  onPath?(path: PathKind, reason: string): void;
}

export interface DirectConfig {
  makePeer: MakePeer;
  /** Wait before trying again after a direct attempt failed or a direct path ended; doubles up to 5 min. */
  retryMs?: number;
  limits?: Partial<DirectLimits>;
}

interface SessionDirect extends DirectConfig {
  connect(t: FrameTransport, payload: Record<string, unknown>): Promise<SecureChannel>;
}

const DIRECT_RETRY_MAX_MS = 5 * 60_000;

export class ClientSession {
  onclose: ((code: number, reason: string) => void) | null = null;
  onpath: ((path: PathKind, reason: string) => void) | null = null;
  readonly #mux: Mux;
  readonly #channel: SecureChannel;
  readonly #paths: PathSwitch;
  readonly #streams = new Map<number, StreamHandler>();
  readonly #direct: SessionDirect | undefined;
  #attempt: DirectAnswer | undefined;
  #directRetry: ReturnType<typeof setTimeout> | undefined;
  #directDelay = 0;
  #nextId = 1;
  #lastHeard = Date.now();
  #ping: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(channel: SecureChannel, o: { recvTunnelWindow: number; recvStreamWindow: number; pingMs: number; direct?: SessionDirect }) {
    this.#channel = channel;
    const peer = channel.peerPayload as { tunnelWindow?: number; streamWindow?: number; paths?: unknown };
    this.#paths = new PathSwitch({
      primary: channel,
      enabled: peer.paths === 1,
      limits: { maxUnackedBytes: 2 * o.recvTunnelWindow, maxHeldBytes: 2 * o.recvTunnelWindow + 64 * 1024 },
      onMessage: (m) => {
        this.#lastHeard = Date.now();
        this.#mux.receive(m);
      },
      onSignal: (v) => this.#onSignal(v),
      onClose: (code, reason) => this.#onClosed(code, reason),
      onPath: (path, reason) => this.#onPath(path, reason),
    });
    this.#mux = new Mux({
      channel: this.#paths,
      recvTunnelWindow: o.recvTunnelWindow,
      recvStreamWindow: o.recvStreamWindow,
      sendTunnelWindow: windowOf(peer.tunnelWindow),
      sendStreamWindow: windowOf(peer.streamWindow),
      onMessage: (op, stream, body, cost) => this.#onMessage(op, stream, body, cost),
    });
    // Key confirmation: the host serves nothing until this first frame has verified.
    this.#mux.sendJson(Op.hello, 0, { v: 1 });
    this.#ping = setInterval(() => {
      if (Date.now() - this.#lastHeard > o.pingMs * 2.5) this.close(TunnelClose.timeout, 'Your host stopped answering through the relay.');
      else this.#mux.sendControl(Op.ping, 0);
    }, o.pingMs);
    channel.flushEarly();
    this.#direct = this.#paths.enabled && (peer as { direct?: unknown }).direct === 1 ? o.direct : undefined;
    this.#directDelay = this.#direct?.retryMs ?? 10_000;
    if (this.#direct) this.tryDirect();
  }

  /** The path layer's numbers (tests, troubleshooting). */
  pathInfo(): Record<string, number | string> {
    const streams = [...this.#streams].map(([id, st]) => `${id}:${st instanceof WsStream ? st.bufferedAmount : 'http'}`).join(' ');
    return { ...this.#paths.describe(), tunnelCredit: this.#mux.tunnelCredit, streams };
  }

  /** The path this end sends on: "relayed" until a direct WebRTC channel opens. */
  get path(): PathKind {
    return this.#paths.path;
  }

  /** Starts a direct attempt now (if none is under way and the host offers direct paths). */
  tryDirect(): void {
    const d = this.#direct;
    if (!d || this.#closed || (this.#attempt && !this.#attempt.ended)) return;
    clearTimeout(this.#directRetry);
    const limits = { ...DEFAULT_DIRECT_LIMITS, ...d.limits };
    const attempt: DirectAnswer = new DirectAnswer({
      makePeer: d.makePeer,
      signal: (s) => this.#paths.sendSignal(s),
      parentHash: this.#channel.handshakeHash,
      limits,
      connect: d.connect,
      onOpen: (ch) => {
        this.#directDelay = d.retryMs ?? 10_000;
        this.#paths.attachDirect(ch);
      },
      onEnd: () => {
        if (this.#attempt !== attempt || this.#closed) return;
        this.#attempt = undefined;
        this.#paths.fallBack('the direct connection ended');
        clearTimeout(this.#directRetry);
        this.#directRetry = setTimeout(() => this.tryDirect(), this.#directDelay);
        this.#directDelay = Math.min(DIRECT_RETRY_MAX_MS, this.#directDelay * 2);
      },
    });
    this.#attempt = attempt;
  }

  /** Gives up the direct path (it falls back to the relay; a new attempt comes after the retry delay). */
  dropDirect(reason = 'closed by the page'): void {
    this.#attempt?.end(reason, true);
  }

  #onSignal(v: Record<string, unknown>): void {
    const s = parseSignal(v);
    if (s.t === 'direct') return; // The browser asks; a host never does.
    this.#attempt?.onSignal(s);
  }

  #onPath(path: PathKind, reason: string): void {
    // The path layer fell back by itself (stall, limit): end the attempt so its peer connection goes too.
    if (path === 'relayed') this.#attempt?.end(reason, true);
    this.onpath?.(path, reason);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** The handshake hash: identifies this connection on both ends (a channel binding for later transports). */
  get handshakeHash(): Uint8Array {
    return this.#channel.handshakeHash;
  }

  request(req: TunnelRequest): Promise<TunnelResponse> {
    if (this.#closed) return Promise.reject(new TypeError('The tunnel to your host is closed.'));
    const id = this.#open();
    const ex = new HttpExchange(this.#mux, id, req, () => this.#forget(id));
    this.#streams.set(id, ex);
    return ex.response;
  }

  webSocket(path: string, protocols: string[], h: WsHandlers): WsStream {
    const id = this.#open();
    const ws = new WsStream(this.#mux, id, path, protocols, h, () => this.#forget(id));
    this.#streams.set(id, ws);
    if (this.#closed) queueMicrotask(() => ws.onTunnelClosed());
    return ws;
  }

  close(code = 1000, reason = ''): void {
    this.#paths.close(code, reason);
  }

  #open(): number {
    const id = this.#nextId++;
    this.#mux.openStream(id);
    return id;
  }

  #forget(id: number): void {
    this.#streams.delete(id);
    this.#mux.closeStream(id);
  }

  #onMessage(op: OpCode, stream: number, body: Uint8Array, cost: number): void {
    if (op === Op.pong || op === Op.hello) return;
    if (op === Op.ping) {
      this.#mux.sendControl(Op.pong, 0, body);
      return;
    }
    const s = this.#streams.get(stream);
    if (s) s.onMessage(op, body, cost);
    else this.#mux.release(stream, cost);
  }

  #onClosed(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
    clearTimeout(this.#directRetry);
    this.#attempt?.end('the tunnel closed', false);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.onTunnelClosed(reason || `code ${code}`);
    this.onclose?.(code, reason);
  }
}

function windowOf(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= MIN_WINDOW_BYTES && v <= 64 * 1024 * 1024 ? v : MIN_WINDOW_BYTES;
}

/** Adapts a standard WebSocket to the frame transport; text messages are the relay's own (its hello). */
export function socketTransport(ws: WebSocket, onText: (text: string) => void): FrameTransport {
  ws.binaryType = 'arraybuffer';
  const t: FrameTransport = {
    send: (f) => {
      if (ws.readyState === 1) ws.send(f as Uint8Array<ArrayBuffer>);
    },
    close: (code, reason) => {
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    },
    onframe: null,
    onclose: null,
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') onText(ev.data);
    else t.onframe?.(new Uint8Array(ev.data as ArrayBuffer));
  };
  ws.onclose = (ev) => t.onclose?.(ev.code, ev.reason);
  return t;
}

const DEFAULT_STREAM_WINDOW = 256 * 1024;

export class TunnelClient {
  readonly #o: Required<Omit<TunnelClientOptions, 'onState' | 'onPath' | 'direct'>> & Pick<TunnelClientOptions, 'onState' | 'onPath' | 'direct'>;
  #state: TunnelState = 'stopped';
  #session: ClientSession | undefined;
  #waiters = new Set<{ resolve(s: ClientSession): void; reject(e: Error): void }>();
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #socket: WebSocket | undefined;
  #lastError: TunnelError | undefined;

  constructor(o: TunnelClientOptions) {
    this.#o = {
      WebSocket: globalThis.WebSocket,
      handshakeTimeoutMs: 15_000,
      pingMs: 15_000,
      backoffBaseMs: 500,
      backoffMaxMs: 15_000,
      streamWindowBytes: DEFAULT_STREAM_WINDOW,
      ...o,
    };
  }

  get state(): TunnelState {
    return this.#state;
  }

  /** The last reason the tunnel failed or closed (for the page's message). */
  get lastError(): TunnelError | undefined {
    return this.#lastError;
  }

  get session(): ClientSession | undefined {
    return this.#session;
  }

  start(): void {
    if (this.#state !== 'stopped') return;
    this.#connect();
  }

  stop(): void {
    this.#setState('stopped', {});
    clearTimeout(this.#timer);
    this.#session?.close(1000, 'page closed');
    this.#socket?.close(1000);
    this.#rejectAll(new TypeError('The tunnel was stopped.'));
  }

  /** Resolves with an open session; waits for a reconnect up to `timeoutMs`. */
  ready(timeoutMs: number): Promise<ClientSession> {
    if (this.#session && !this.#session.isClosed) return Promise.resolve(this.#session);
    if (this.#state === 'refused' || this.#state === 'stopped') return Promise.reject(new TypeError(this.#lastError?.message ?? 'The tunnel to your host is not running.'));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (s: ClientSession) => {
          clearTimeout(t);
          this.#waiters.delete(w);
          resolve(s);
        },
        reject: (e: Error) => {
          clearTimeout(t);
          this.#waiters.delete(w);
          reject(e);
        },
      };
      const t = setTimeout(() => w.reject(new TypeError(`Cannot reach your host through the relay${this.#lastError ? `: ${this.#lastError.message}` : ''}.`)), timeoutMs);
      this.#waiters.add(w);
    });
  }

  #setState(state: TunnelState, detail: { message?: string; code?: number }): void {
    this.#state = state;
    this.#o.onState?.(state, detail);
  }

  #rejectAll(e: Error): void {
    for (const w of [...this.#waiters]) w.reject(e);
  }

  async #connect(): Promise<void> {
    this.#setState(this.#attempt === 0 ? 'connecting' : 'reconnecting', { message: this.#lastError?.message, code: this.#lastError?.closeCode });
    let ws: WebSocket;
    try {
      ws = new this.#o.WebSocket(this.#o.url);
    } catch (err) {
      this.#failed(new TunnelError('closed', `Cannot open a socket to the relay: ${(err as Error).message}`, 1006));
      return;
    }
    this.#socket = ws;
    let hello: RelayHello | undefined;
    let helloResolve: (() => void) | undefined;
    const transport = socketTransport(ws, (text) => {
      try {
        hello = JSON.parse(text) as RelayHello;
      } catch {
        // Not the relay's hello: ignored, the handshake timeout decides.
      }
      helloResolve?.();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new TunnelError('closed', 'The relay did not answer in time.', TunnelClose.timeout)), this.#o.handshakeTimeoutMs);
        helloResolve = () => {
          clearTimeout(timer);
          resolve();
        };
        transport.onclose = (code, reason) => {
          clearTimeout(timer);
          reject(closeToError(code, reason || relayCloseMessage(code)));
        };
      });
      const windowBytes = Math.max(MIN_WINDOW_BYTES, Math.min(hello?.windowBytes ?? MIN_WINDOW_BYTES, 16 * 1024 * 1024));
      const streamWindow = Math.min(this.#o.streamWindowBytes, windowBytes);
      const channel = await SecureChannel.connect(transport, {
        hostId: this.#o.hostId,
        pairingId: this.#o.pairingId,
        psk: this.#o.psk,
        payload: { v: 1, tunnelWindow: windowBytes, streamWindow, paths: 1 },
        timeoutMs: this.#o.handshakeTimeoutMs,
      });
      if (this.#state === 'stopped') {
        channel.close(1000, 'page closed');
        return;
      }
      const o = this.#o;
      const direct = o.direct && {
        ...o.direct,
        connect: (t: FrameTransport, payload: Record<string, unknown>) => SecureChannel.connect(t, { hostId: o.hostId, pairingId: o.pairingId, psk: o.psk, payload, timeoutMs: o.handshakeTimeoutMs }),
      };
      const session = new ClientSession(channel, { recvTunnelWindow: windowBytes, recvStreamWindow: streamWindow, pingMs: this.#o.pingMs, direct });
      session.onpath = (path, reason) => {
        if (this.#session === session) o.onPath?.(path, reason);
      };
      this.#session = session;
      this.#attempt = 0;
      this.#lastError = undefined;
      session.onclose = (code, reason) => {
        if (this.#session === session) this.#session = undefined;
        this.#failed(closeToError(code, reason || relayCloseMessage(code)));
      };
      this.#setState('open', {});
      o.onPath?.('relayed', 'tunnel opened');
      for (const w of [...this.#waiters]) w.resolve(session);
    } catch (err) {
      const e = err instanceof TunnelError ? err : new TunnelError('closed', (err as Error).message, 1006);
      try {
        ws.close(e.closeCode >= 4000 ? e.closeCode : 1000);
      } catch {
        // Already closed.
      }
      this.#failed(e);
    }
  }

  #failed(e: TunnelError): void {
    if (this.#state === 'stopped') return;
    this.#lastError = e;
    if (e.code === 'refused') {
      this.#setState('refused', { message: e.message, code: e.closeCode });
      this.#rejectAll(new TypeError(e.message));
      return;
    }
    const cap = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** Math.min(this.#attempt, 16));
    this.#attempt++;
    // Full jitter: phones that lost the relay together do not come back together.
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.#setState('reconnecting', { message: e.message, code: e.closeCode });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }
}

/** Messages for the relay's own close codes, for closes that carry no reason (a browser shows none after 1006). */
export function relayCloseMessage(code: number): string {
  switch (code) {
    case TunnelClose.hostNotConnected:
      return 'Your host is not connected to the relay (is Keel running with --relay?).';
    case TunnelClose.hostGone:
      return 'Your host disconnected from the relay.';
    case TunnelClose.timeout:
      return 'The relay or your host did not answer in time.';
    case 1013:
      return 'The relay is at a limit; trying again.';
    case 1006:
      return 'The connection to the relay was lost.';
    default:
      return `The tunnel closed (code ${code}).`;
  }
}

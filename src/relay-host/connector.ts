/**
 * The host's one outbound WebSocket to the relay: prove the host key (signed challenge), then carry
 * every browser tunnel the relay opens. Reconnects with exponential backoff and jitter; a tunnel
 * lost with the socket is the browser's to reopen (its pages then resume as after any dropped
 * connection: terminals from their snapshot, /stream from Last-Event-ID).
 */
import http from 'node:http';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { TunnelClose } from '../tunnel/errors.ts';
import { signChallenge } from '../relay/identity.ts';
import { WireOp, decodeClose, decodeWire, encodeClose, encodeWire, type Register } from '../relay/wire.ts';
import type { DirectLimits, IceServer, MakePeer } from '../tunnel/direct.ts';
import { HostTunnel } from './host-tunnel.ts';
import type { LocalTarget } from './local-http.ts';
import type { HostIdentity, RelayStore } from './store.ts';
import { relayUrls } from './urls.ts';
export { relayUrls };

export interface ConnectorOptions {
  /** One relay, or several that share Redis: the host moves to the next when one fails. */
  relayUrls: string[];
  identity: HostIdentity;
  store: RelayStore;
  log: Logger;
  now: () => number;
  /** Where tunnel streams go; undefined until Keel listens. */
  local: () => { port: number; token: string } | undefined;
  reconnectMaxMs: number;
  maxTunnels: number;
  maxStreamsPerTunnel: number;
  streamWindowBytes: number;
  handshakeTimeoutMs: number;
  pingMs: number;
  maxFrameBytes: number;
  /** Direct WebRTC paths; undefined: relay only. */
  direct?: { makePeer: MakePeer; iceServers: IceServer[]; limits?: Partial<DirectLimits> };
}

/** The relay URLs in --relay (comma-separated). Pairing links name the first. */
export type ConnectorState = 'connecting' | 'registered' | 'waiting' | 'closed';

export function relaySocketUrl(relayUrl: string, path: string): string {
  const u = new URL(relayUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = u.pathname.replace(/\/$/, '') + path;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export class RelayConnector {
  readonly #o: ConnectorOptions;
  readonly #tunnels = new Map<number, HostTunnel>();
  readonly #agent = new http.Agent({ keepAlive: true, maxFreeSockets: 4 });
  #ws: WebSocket | undefined;
  #state: ConnectorState = 'waiting';
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;
  #lastError = '';
  #closed = false;
  #windowBytes = 0;
  #connects = 0;
  #urlIndex = 0;

  constructor(o: ConnectorOptions) {
    this.#o = o;
  }

  get relayUrl(): string {
    return this.#o.relayUrls[this.#urlIndex]!;
  }

  status() {
    return {
      relay: this.relayUrl,
      relays: this.#o.relayUrls.length,
      host_id: this.#o.identity.hostId,
      state: this.#state,
      tunnels: this.#tunnels.size,
      streams: [...this.#tunnels.values()].reduce((n, t) => n + t.streamCount, 0),
      direct: [...this.#tunnels.values()].filter((t) => t.path === 'direct').length,
      paths: [...this.#tunnels.values()].map((t) => ({ pairing: t.pairingId, streams: t.streamCount, ...t.pathInfo() })),
      connects: this.#connects,
      last_error: this.#lastError,
    };
  }

  start(): void {
    if (this.#closed || this.#ws) return;
    this.#connect();
  }

  /** Closes the open tunnels of a revoked pairing. */
  revoked(pairingId: string): void {
    for (const t of this.#tunnels.values()) if (t.pairingId === pairingId) t.close(TunnelClose.pairingRefused, 'This pairing was revoked on the host.');
  }

  /** Gives up every direct path: traffic falls back to the relay (the browsers try again later). */
  dropDirect(reason: string): number {
    let n = 0;
    for (const t of this.#tunnels.values()) {
      if (t.path === 'direct') n++;
      t.dropDirect(reason);
    }
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = 'closed';
    clearTimeout(this.#timer);
    clearInterval(this.#ping);
    for (const t of [...this.#tunnels.values()]) t.close(1001, 'The host is shutting down.');
    this.#ws?.close(1001, 'host shutting down');
    this.#ws = undefined;
    this.#agent.destroy();
  }

  #connect(): void {
    this.#state = 'connecting';
    const ws = new WebSocket(relaySocketUrl(this.relayUrl, '/relay/host'), { perMessageDeflate: false, maxPayload: this.#o.maxFrameBytes + 64, handshakeTimeout: this.#o.handshakeTimeoutMs });
    this.#ws = ws;
    let alive = true;
    ws.on('pong', () => (alive = true));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      alive = true;
      if (isBinary) this.#onBinary(ws, data);
      else this.#onText(ws, data.toString('utf8'));
    });
    ws.on('open', () => {
      clearInterval(this.#ping);
      this.#ping = setInterval(() => {
        if (!alive) return void ws.terminate();
        alive = false;
        ws.ping();
      }, this.#o.pingMs);
      this.#ping.unref();
    });
    ws.on('error', (err) => {
      this.#lastError = err.message;
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      clearInterval(this.#ping);
      for (const t of [...this.#tunnels.values()]) t.remoteClosed(TunnelClose.hostGone, 'The host lost its connection to the relay.');
      this.#tunnels.clear();
      if (this.#closed) return;
      if (reason.length) this.#lastError = `${code} ${reason.toString('utf8')}`;
      this.#retry();
    });
  }

  #retry(): void {
    this.#state = 'waiting';
    // Several relays: the next attempt goes to the next one (a relay that died loses only its own sockets).
    if (this.#o.relayUrls.length > 1) this.#urlIndex = (this.#urlIndex + 1) % this.#o.relayUrls.length;
    const cap = Math.min(this.#o.reconnectMaxMs, 500 * 2 ** Math.min(this.#attempt, 16));
    this.#attempt++;
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.#o.log.info({ delayMs: Math.round(delay), error: this.#lastError }, 'relay: reconnecting');
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }

  #onText(ws: WebSocket, text: string): void {
    let m: { type?: string; nonce?: unknown; windowBytes?: unknown; hostId?: string };
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.type === 'challenge' && typeof m.nonce === 'string') {
      this.#windowBytes = typeof m.windowBytes === 'number' ? m.windowBytes : 0;
      const sig = signChallenge(this.#o.identity.privateKey, Buffer.from(m.nonce, 'base64url'));
      const reg: Register = { type: 'register', v: 1, publicKey: this.#o.identity.publicKeyRaw.toString('base64url'), signature: sig.toString('base64url') };
      ws.send(JSON.stringify(reg));
    } else if (m.type === 'registered') {
      if (m.hostId !== this.#o.identity.hostId) {
        this.#lastError = 'the relay registered another host id';
        ws.close(1002, 'wrong host id');
        return;
      }
      this.#state = 'registered';
      this.#attempt = 0;
      this.#connects++;
      this.#lastError = '';
      this.#o.log.info({ relay: this.relayUrl, hostId: m.hostId }, 'relay: connected');
    }
  }

  #onBinary(ws: WebSocket, data: Buffer): void {
    const m = decodeWire(data);
    if (!m || this.#state !== 'registered') return;
    if (m.op === WireOp.open) return this.#open(ws, m.tunnel);
    const t = this.#tunnels.get(m.tunnel);
    if (!t) return;
    if (m.op === WireOp.data) t.transport.onframe?.(new Uint8Array(m.payload));
    else {
      const { code, reason } = decodeClose(m.payload);
      t.remoteClosed(code, reason);
    }
  }

  #open(ws: WebSocket, id: number): void {
    if (this.#tunnels.has(id)) return;
    if (this.#tunnels.size >= this.#o.maxTunnels) {
      ws.send(encodeClose(id, TunnelClose.hostBusy, `The host has too many browsers connected (${this.#o.maxTunnels}, --relay-host-max-tunnels).`));
      return;
    }
    const windowBytes = Math.max(this.#windowBytes, 128 * 1024);
    const tunnel = new HostTunnel(
      {
        hostId: this.#o.identity.hostId,
        store: this.#o.store,
        target: (): LocalTarget | undefined => {
          const l = this.#o.local();
          return l ? { ...l, agent: this.#agent } : undefined;
        },
        now: this.#o.now,
        log: this.#o.log,
        handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
        recvTunnelWindow: windowBytes,
        recvStreamWindow: Math.min(this.#o.streamWindowBytes, windowBytes),
        maxStreams: this.#o.maxStreamsPerTunnel,
        direct: this.#o.direct,
      },
      (frame) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(encodeWire(WireOp.data, id, frame));
      },
      (code, reason) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(encodeClose(id, code, reason));
      },
      () => this.#tunnels.delete(id),
    );
    this.#tunnels.set(id, tunnel);
  }
}

/**
 * One browser's tunnel as the host sees it: the end-to-end handshake as responder (the pairing must
 * exist and not be revoked), key confirmation (the browser's first frame must verify before anything
 * is served), then streams to the local Keel. Revoking the pairing closes its open tunnels.
 */
import type { Logger } from 'pino';
import { TunnelClose, TunnelError, closeReason } from '../tunnel/errors.ts';
import { importPairingSecret } from '../tunnel/handshake.ts';
import { DEFAULT_DIRECT_LIMITS, DirectOffer, parseSignal, type DirectLimits, type IceServer, type MakePeer } from '../tunnel/direct.ts';
import { MIN_WINDOW_BYTES, Mux, Op, parseJson, type OpCode } from '../tunnel/mux.ts';
import { PathSwitch, type PathKind } from '../tunnel/paths.ts';
import { SecureChannel, type FrameTransport } from '../tunnel/secure-channel.ts';
import { HostHttpStream, checkRequest, type HostStream, type LocalTarget } from './local-http.ts';
import { HostWsStream } from './local-ws.ts';
import type { RelayStore } from './store.ts';

export interface HostTunnelOptions {
  hostId: string;
  store: RelayStore;
  target: () => LocalTarget | undefined;
  now: () => number;
  log: Logger;
  handshakeTimeoutMs: number;
  recvTunnelWindow: number;
  recvStreamWindow: number;
  maxStreams: number;
  /** Offer direct WebRTC paths (werift); undefined: this host only relays. */
  direct?: { makePeer: MakePeer; iceServers: IceServer[]; limits?: Partial<DirectLimits> };
}

/** A browser asking for direct paths faster than this is told no (each attempt makes a peer connection). */
const DIRECT_MIN_INTERVAL_MS = 2_000;

export class HostTunnel {
  readonly transport: FrameTransport;
  pairingId: string | undefined;
  readonly #o: HostTunnelOptions;
  readonly #streams = new Map<number, HostStream>();
  #mux: Mux | undefined;
  #channel: SecureChannel | undefined;
  #paths: PathSwitch | undefined;
  #attempt: DirectOffer | undefined;
  #lastAttempt = 0;
  #confirmed = false;
  #closed = false;
  readonly #onClosed: () => void;

  constructor(o: HostTunnelOptions, send: (frame: Uint8Array) => void, closeRemote: (code: number, reason: string) => void, onClosed: () => void) {
    this.#o = o;
    this.#onClosed = onClosed;
    this.transport = {
      send,
      close: (code, reason) => {
        closeRemote(code, reason);
        this.#ended();
      },
      onframe: null,
      onclose: null,
    };
    void this.#run();
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** The path this host sends on for this tunnel. */
  get path(): PathKind {
    return this.#paths?.path ?? 'relayed';
  }

  /** The path layer's numbers (troubleshooting: /api/relay). */
  pathInfo(): Record<string, number | string> | undefined {
    return this.#paths?.describe();
  }

  /** Gives up the direct path, if any: traffic falls back to the relay; the browser tries again later. */
  dropDirect(reason: string): void {
    this.#attempt?.end(reason, true);
  }

  /** The relay reports the browser side closed. */
  remoteClosed(code: number, reason: string): void {
    const cb = this.transport.onclose;
    if (cb) cb(code, reason);
    this.#ended();
  }

  close(code: number, reason: string): void {
    if (this.#paths) this.#paths.close(code, reason);
    else if (this.#channel) this.#channel.close(code, reason);
    else this.transport.close(code, closeReason(reason));
  }

  async #run(): Promise<void> {
    let accepted: { channel: SecureChannel; pairingId: string };
    try {
      accepted = await SecureChannel.accept(this.transport, {
        hostId: this.#o.hostId,
        lookup: async (id) => {
          const s = this.#o.store.secret(id, this.#o.now());
          return Buffer.isBuffer(s) ? importPairingSecret(s) : s;
        },
        payload: { v: 1, tunnelWindow: this.#o.recvTunnelWindow, streamWindow: this.#o.recvStreamWindow, paths: 1, direct: this.#o.direct ? 1 : 0 },
        timeoutMs: this.#o.handshakeTimeoutMs,
      });
    } catch (err) {
      this.#o.log.info({ code: (err as TunnelError).code }, `relay tunnel: handshake ended: ${(err as Error).message}`);
      this.#ended();
      return;
    }
    if (this.#closed) {
      accepted.channel.close(1001, 'closed');
      return;
    }
    const { channel, pairingId } = accepted;
    this.pairingId = pairingId;
    this.#channel = channel;
    const peer = channel.peerPayload as { tunnelWindow?: unknown; streamWindow?: unknown; paths?: unknown };
    const window = this.#o.recvTunnelWindow;
    this.#paths = new PathSwitch({
      primary: channel,
      enabled: peer.paths === 1,
      limits: { maxUnackedBytes: 2 * window, maxHeldBytes: 2 * window + 64 * 1024 },
      onMessage: (m) => this.#mux?.receive(m),
      onSignal: (v) => this.#onSignal(v),
      onClose: (code, reason) => {
        if (code !== 1000 && code !== 1001) this.#o.log.info({ code, pairingId }, `relay tunnel closed: ${reason}`);
        this.#ended();
      },
      onPath: (path, reason) => {
        if (path === 'relayed') this.#attempt?.end(reason, true);
        this.#o.log.info({ pairingId, path }, `relay tunnel: ${path} (${reason})`);
      },
    });
    this.#mux = new Mux({
      channel: this.#paths,
      recvTunnelWindow: this.#o.recvTunnelWindow,
      recvStreamWindow: this.#o.recvStreamWindow,
      sendTunnelWindow: clampWindow(peer.tunnelWindow),
      sendStreamWindow: clampWindow(peer.streamWindow),
      onMessage: (op, stream, body, cost) => this.#onMessage(op, stream, body, cost),
    });
    channel.flushEarly();
  }

  /** WebRTC signalling from the browser, only once it proved it holds the session keys. */
  #onSignal(v: Record<string, unknown>): void {
    if (!this.#confirmed) throw new TunnelError('protocol', 'Signalling before the hello.');
    const s = parseSignal(v);
    const paths = this.#paths!;
    if (s.t !== 'direct') return void this.#attempt?.onSignal(s);
    const d = this.#o.direct;
    const now = Date.now();
    if (!d) return paths.sendSignal({ t: 'bye', reason: 'This host does not offer direct connections (--relay-direct false).' });
    if (now - this.#lastAttempt < DIRECT_MIN_INTERVAL_MS) return paths.sendSignal({ t: 'bye', reason: 'Direct connection attempts too close together.' });
    this.#lastAttempt = now;
    this.#attempt?.end('replaced by a new attempt', false);
    const pairingId = this.pairingId!;
    const attempt: DirectOffer = new DirectOffer({
      makePeer: d.makePeer,
      iceServers: d.iceServers,
      signal: (sig) => paths.sendSignal(sig),
      parentHash: this.#channel!.handshakeHash,
      limits: { ...DEFAULT_DIRECT_LIMITS, ...d.limits },
      accept: async (t, payload) => {
        const r = await SecureChannel.accept(t, {
          hostId: this.#o.hostId,
          // Only this tunnel's pairing, looked up again: a pairing revoked since the tunnel opened gets no direct path.
          lookup: async (id) => {
            if (id !== pairingId) return { refused: 'The direct channel named another pairing.' };
            const secret = this.#o.store.secret(id, this.#o.now());
            return Buffer.isBuffer(secret) ? importPairingSecret(secret) : secret;
          },
          payload,
          timeoutMs: this.#o.handshakeTimeoutMs,
        });
        return r.channel;
      },
      onOpen: (ch) => paths.attachDirect(ch),
      onEnd: (reason) => {
        if (this.#attempt !== attempt) return;
        this.#attempt = undefined;
        paths.fallBack(reason);
      },
    });
    this.#attempt = attempt;
  }

  #onMessage(op: OpCode, stream: number, body: Uint8Array, cost: number): void {
    const mux = this.#mux!;
    if (!this.#confirmed) {
      // Key confirmation: message 1 alone may be a replay; this first frame proves the browser holds the session keys.
      if (op !== Op.hello || stream !== 0) throw new TunnelError('protocol', 'The browser did not start with a hello.');
      this.#confirmed = true;
      this.#o.store.markUsed(this.pairingId!, this.#o.now());
      return;
    }
    switch (op) {
      case Op.ping:
        mux.sendControl(Op.pong, 0, body);
        return;
      case Op.pong:
      case Op.hello:
        return;
      case Op.request:
      case Op.wsOpen:
        this.#open(op, stream, body);
        return;
      default: {
        const s = this.#streams.get(stream);
        if (s) s.onMessage(op, body, cost);
        else if (cost) mux.release(stream, cost);
      }
    }
  }

  #open(op: OpCode, stream: number, body: Uint8Array): void {
    const mux = this.#mux!;
    if (stream === 0 || mux.hasStream(stream)) throw new TunnelError('protocol', `Stream ${stream} cannot be opened.`);
    const target = this.#o.target();
    const refuse = (message: string, wsCode: number) => {
      if (op === Op.request) mux.sendJson(Op.reset, stream, { error: 'too_many_streams', message });
      else mux.sendControl(Op.wsClose, stream, new Uint8Array([wsCode >> 8, wsCode & 0xff]));
    };
    if (!target) return refuse('Keel is not listening yet.', 1013);
    if (this.#streams.size >= this.#o.maxStreams) return refuse(`Too many requests open through this tunnel (${this.#o.maxStreams}, --relay-max-streams-per-tunnel).`, 1013);
    mux.openStream(stream);
    const done = () => {
      this.#streams.delete(stream);
      mux.closeStream(stream);
    };
    try {
      if (op === Op.request) this.#streams.set(stream, new HostHttpStream(mux, stream, checkRequest(parseJson(body)), target, done));
      else {
        const w = parseJson<{ path?: unknown; protocols?: unknown }>(body);
        const path = typeof w.path === 'string' ? w.path : '';
        if (!path.startsWith('/') || path.startsWith('//') || path.length > 8192 || /[\s\0]/.test(path)) throw new TunnelError('protocol', 'Bad WebSocket path.');
        const protocols = Array.isArray(w.protocols) ? w.protocols.filter((p): p is string => typeof p === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(p)).slice(0, 8) : [];
        this.#streams.set(stream, new HostWsStream(mux, stream, path, protocols, target, done));
      }
    } catch (err) {
      done();
      if (op === Op.request) mux.sendJson(Op.reset, stream, { error: 'bad_request', message: (err as Error).message });
      else mux.sendControl(Op.wsClose, stream, new Uint8Array([0x03, 0xea]));
    }
  }

  #ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#attempt?.end('the tunnel closed', false);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.onTunnelClosed();
    this.#onClosed();
  }
}

function clampWindow(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= MIN_WINDOW_BYTES ? Math.min(v, 64 * 1024 * 1024) : MIN_WINDOW_BYTES;
}

export { TunnelClose };

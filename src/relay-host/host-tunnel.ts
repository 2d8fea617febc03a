/**
 * One browser's tunnel as the host sees it: the end-to-end handshake as responder (the pairing must
 * exist and not be revoked), key confirmation (the browser's first frame must verify before anything
 * is served), then streams to the local Keel. Revoking the pairing closes its open tunnels.
 */
import type { Logger } from 'pino';
import { TunnelClose, TunnelError, closeReason } from '../tunnel/errors.ts';
import { importPairingSecret } from '../tunnel/handshake.ts';
import { MIN_WINDOW_BYTES, Mux, Op, parseJson, type OpCode } from '../tunnel/mux.ts';
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
}

export class HostTunnel {
  readonly transport: FrameTransport;
  pairingId: string | undefined;
  readonly #o: HostTunnelOptions;
  readonly #streams = new Map<number, HostStream>();
  #mux: Mux | undefined;
  #channel: SecureChannel | undefined;
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

  /** The relay reports the browser side closed. */
  remoteClosed(code: number, reason: string): void {
    const cb = this.transport.onclose;
    if (cb) cb(code, reason);
    this.#ended();
  }

  close(code: number, reason: string): void {
    if (this.#channel) this.#channel.close(code, reason);
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
        payload: { v: 1, tunnelWindow: this.#o.recvTunnelWindow, streamWindow: this.#o.recvStreamWindow },
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
    const peer = channel.peerPayload as { tunnelWindow?: unknown; streamWindow?: unknown };
    this.#mux = new Mux({
      channel,
      recvTunnelWindow: this.#o.recvTunnelWindow,
      recvStreamWindow: this.#o.recvStreamWindow,
      sendTunnelWindow: clampWindow(peer.tunnelWindow),
      sendStreamWindow: clampWindow(peer.streamWindow),
      onMessage: (op, stream, body, cost) => this.#onMessage(op, stream, body, cost),
    });
    channel.onmessage = (m) => this.#mux?.receive(m);
    channel.onclose = (code, reason) => {
      if (code !== 1000 && code !== 1001) this.#o.log.info({ code, pairingId }, `relay tunnel closed: ${reason}`);
      this.#ended();
    };
    channel.flushEarly();
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

/**
 * Streams inside one secure channel: HTTP requests and responses, WebSockets, with flow control at
 * two levels (the scheme of HTTP/2): a tunnel window, returned as soon as a frame is received, keeps
 * the bytes in flight — what the relay holds — under the relay's per-tunnel limit; a window per
 * stream, returned only when the receiver has passed the bytes on (to the local Keel on the host,
 * to the page's reader in the browser), keeps a slow consumer from growing anyone's memory.
 *
 * Message: `[op: u8][stream: u32 BE][body]`. Shared by browser and host; docs/relay.md has the table.
 */
import { concat, fromUtf8, readU32, u32, utf8 } from './bytes.ts';
import { TunnelClose, TunnelError } from './errors.ts';

export const Op = {
  hello: 1,
  request: 2,
  response: 3,
  data: 4,
  end: 5,
  reset: 6,
  wsOpen: 7,
  wsAccept: 8,
  wsMessage: 9,
  wsClose: 10,
  window: 11,
  ping: 12,
  pong: 13,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

const OP_NAMES = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k])) as Record<number, string>;

/** Flag bits of a wsMessage body's first byte. */
export const WsFlag = { binary: 1, fin: 2 } as const;

/** Mux header plus the channel's header and tag: what one counted message costs beyond its body. */
export const MESSAGE_OVERHEAD = 5 + 9 + 16;
/** Largest body of one data or wsMessage chunk: large payloads are cut into chunks this size. */
export const CHUNK_BYTES = 16 * 1024;
/** Largest message of any kind (request headers are the largest control message). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Smallest window either side may declare: a window must hold at least a few chunks, or nothing moves. */
export const MIN_WINDOW_BYTES = 4 * (CHUNK_BYTES + MESSAGE_OVERHEAD);

export function encode(op: OpCode, stream: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat(new Uint8Array([op]), u32(stream), body);
}

export function encodeJson(op: OpCode, stream: number, value: unknown): Uint8Array {
  return encode(op, stream, utf8.encode(JSON.stringify(value)));
}

export function parseJson<T = Record<string, unknown>>(body: Uint8Array): T {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(body));
  } catch {
    throw new TunnelError('protocol', 'A tunnel message was not valid JSON.');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TunnelError('protocol', 'A tunnel message was not a JSON object.');
  return v as T;
}

function isCounted(op: number): boolean {
  return op === Op.data || op === Op.wsMessage;
}

export interface Channel {
  send(plaintext: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface MuxOptions {
  channel: Channel;
  /** Windows we grant the peer (what we can hold). */
  recvTunnelWindow: number;
  recvStreamWindow: number;
  /** Windows the peer granted us (from its handshake payload). */
  sendTunnelWindow: number;
  sendStreamWindow: number;
  /** Called for every message that is not flow control. `cost` is what `release` must be given once the bytes are passed on. */
  onMessage(op: OpCode, stream: number, body: Uint8Array, cost: number): void;
}

interface StreamState {
  sendCredit: number;
  recvAvailable: number;
  /** Consumed bytes not yet returned to the peer as credit. */
  pendingCredit: number;
  onDrain: (() => void) | undefined;
}

/** Flow control and framing for one tunnel. Roles (which side opens streams) are the caller's. */
export class Mux {
  readonly #o: MuxOptions;
  readonly #streams = new Map<number, StreamState>();
  #tunnelCredit: number;
  #tunnelRecvAvailable: number;
  #tunnelUnacked = 0;
  /** Streams waiting for tunnel credit, in the order they blocked (fair resumption). */
  readonly #blocked = new Set<number>();
  #closed = false;

  constructor(o: MuxOptions) {
    this.#o = o;
    this.#tunnelCredit = o.sendTunnelWindow;
    this.#tunnelRecvAvailable = o.recvTunnelWindow;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Bytes we may still send before the peer returns credit (for tests and stats). */
  get tunnelCredit(): number {
    return this.#tunnelCredit;
  }

  openStream(id: number): void {
    if (this.#streams.has(id)) throw new TunnelError('protocol', `Stream ${id} is already open.`);
    this.#streams.set(id, { sendCredit: this.#o.sendStreamWindow, recvAvailable: this.#o.recvStreamWindow, pendingCredit: 0, onDrain: undefined });
  }

  hasStream(id: number): boolean {
    return this.#streams.has(id);
  }

  /** Forgets a stream: later messages for it are dropped (their tunnel credit is still returned). */
  closeStream(id: number): void {
    this.#streams.delete(id);
    this.#blocked.delete(id);
  }

  /** Sends a message that is not flow-controlled (headers, end, reset, close, window, ping). */
  sendControl(op: OpCode, stream: number, body?: Uint8Array): void {
    if (this.#closed) return;
    this.#o.channel.send(encode(op, stream, body));
  }

  sendJson(op: OpCode, stream: number, value: unknown): void {
    if (this.#closed) return;
    this.#o.channel.send(encodeJson(op, stream, value));
  }

  /**
   * Sends a data or wsMessage chunk (at most CHUNK_BYTES of body) if both windows allow; otherwise
   * sends nothing, returns false and calls `onDrain` once credit is back.
   */
  trySend(op: typeof Op.data | typeof Op.wsMessage, stream: number, body: Uint8Array, onDrain: () => void): boolean {
    if (this.#closed) return false;
    const s = this.#streams.get(stream);
    if (!s) return true; // The stream is gone: the bytes have nowhere to go; report them as sent.
    if (body.length > CHUNK_BYTES + 1) throw new RangeError('chunk larger than CHUNK_BYTES');
    const cost = body.length + MESSAGE_OVERHEAD;
    if (s.sendCredit < cost || this.#tunnelCredit < cost) {
      s.onDrain = onDrain;
      if (this.#tunnelCredit < cost) this.#blocked.add(stream);
      return false;
    }
    s.sendCredit -= cost;
    this.#tunnelCredit -= cost;
    this.#o.channel.send(encode(op, stream, body));
    return true;
  }

  /** The receiver has passed `cost` bytes of `stream` on: return them to the peer (coalesced). */
  release(stream: number, cost: number): void {
    const s = this.#streams.get(stream);
    if (!s || this.#closed) return;
    s.pendingCredit += cost;
    s.recvAvailable += cost;
    if (s.pendingCredit >= this.#o.recvStreamWindow / 4) {
      this.sendControl(Op.window, stream, u32(s.pendingCredit));
      s.pendingCredit = 0;
    }
  }

  /** Feeds one decrypted message from the channel. Protocol errors close the tunnel. */
  receive(m: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.#receive(m);
    } catch (err) {
      const e = err instanceof TunnelError ? err : new TunnelError('protocol', (err as Error).message);
      this.close(e.closeCode, e.message);
    }
  }

  #receive(m: Uint8Array): void {
    if (m.length < 5) throw new TunnelError('protocol', 'A tunnel message was too short.');
    const op = m[0]!;
    if (!OP_NAMES[op]) throw new TunnelError('protocol', `Unknown tunnel message type ${op}.`);
    const stream = readU32(m, 1);
    const body = m.subarray(5);
    if (op === Op.window) {
      if (body.length !== 4) throw new TunnelError('protocol', 'Malformed window update.');
      this.#credit(stream, readU32(body, 0));
      return;
    }
    let cost = 0;
    if (isCounted(op)) {
      cost = body.length + MESSAGE_OVERHEAD;
      this.#tunnelRecvAvailable -= cost;
      if (this.#tunnelRecvAvailable < 0) throw new TunnelError('protocol', 'The peer overran the tunnel window.', TunnelClose.protocol);
      this.#tunnelUnacked += cost;
      if (this.#tunnelUnacked >= this.#o.recvTunnelWindow / 4) {
        this.#tunnelRecvAvailable += this.#tunnelUnacked;
        this.sendControl(Op.window, 0, u32(this.#tunnelUnacked));
        this.#tunnelUnacked = 0;
      }
      const s = this.#streams.get(stream);
      if (!s) return; // Data in flight when the stream closed.
      s.recvAvailable -= cost;
      if (s.recvAvailable < 0) throw new TunnelError('protocol', `The peer overran the window of stream ${stream}.`);
    }
    this.#o.onMessage(op as OpCode, stream, body, cost);
  }

  #credit(stream: number, n: number): void {
    if (stream === 0) {
      this.#tunnelCredit += n;
      if (this.#tunnelCredit > this.#o.sendTunnelWindow) throw new TunnelError('protocol', 'The peer returned more tunnel credit than it was given.');
      for (const id of [...this.#blocked]) {
        this.#blocked.delete(id);
        this.#wake(id);
      }
      return;
    }
    const s = this.#streams.get(stream);
    if (!s) return;
    s.sendCredit += n;
    if (s.sendCredit > this.#o.sendStreamWindow) throw new TunnelError('protocol', `The peer returned more credit than it was given on stream ${stream}.`);
    this.#wake(stream);
  }

  #wake(stream: number): void {
    const s = this.#streams.get(stream);
    const cb = s?.onDrain;
    if (!s || !cb) return;
    s.onDrain = undefined;
    cb();
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#streams.clear();
    this.#blocked.clear();
    this.#o.channel.close(code, reason);
  }
}

/** Splits a payload into chunks of at most CHUNK_BYTES (views, no copies). */
export function* chunks(bytes: Uint8Array): Generator<Uint8Array> {
  if (bytes.length === 0) {
    yield bytes;
    return;
  }
  for (let i = 0; i < bytes.length; i += CHUNK_BYTES) yield bytes.subarray(i, i + CHUNK_BYTES);
}

/**
 * What travels on a host's WebSocket to the relay. Text messages are JSON control (the key
 * challenge, the registration); binary messages carry tunnels: `[op: u8][tunnel: u32 BE][payload]`.
 * The payload of `data` is an end-to-end frame the relay cannot read (src/tunnel/).
 */

export const WireOp = { open: 1, data: 2, close: 3 } as const;
export type WireOpCode = (typeof WireOp)[keyof typeof WireOp];

export const REGISTER_CONTEXT = 'keel-relay-register/1\0';

/** relay → host, first message on a host socket. */
export interface Challenge {
  type: 'challenge';
  v: 1;
  /** 32 random bytes, base64url: signed by the host with its key. */
  nonce: string;
  windowBytes: number;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
}

/** host → relay. */
export interface Register {
  type: 'register';
  v: 1;
  /** Raw Ed25519 public key, base64url (32 bytes). */
  publicKey: string;
  /** Ed25519 signature of REGISTER_CONTEXT || nonce, base64url. */
  signature: string;
}

/** relay → host. */
export interface Registered {
  type: 'registered';
  hostId: string;
}

export function encodeWire(op: WireOpCode, tunnel: number, payload?: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + (payload?.length ?? 0));
  b[0] = op;
  b.writeUInt32BE(tunnel >>> 0, 1);
  if (payload) b.set(payload, 5);
  return b;
}

export function encodeClose(tunnel: number, code: number, reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8').subarray(0, 123);
  const p = Buffer.allocUnsafe(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return encodeWire(WireOp.close, tunnel, p);
}

export interface WireMessage {
  op: WireOpCode;
  tunnel: number;
  payload: Buffer;
}

export function decodeWire(b: Buffer): WireMessage | undefined {
  if (b.length < 5) return undefined;
  const op = b[0]!;
  if (op !== WireOp.open && op !== WireOp.data && op !== WireOp.close) return undefined;
  return { op: op as WireOpCode, tunnel: b.readUInt32BE(1), payload: b.subarray(5) };
}

export function decodeClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/** A close code a WebSocket may be closed with by an application (1000, 3000–4999). */
export function sendableCode(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}

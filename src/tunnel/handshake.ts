/**
 * The end-to-end handshake between a browser (initiator) and a host (responder), modelled on Noise
 * NNpsk0 (`-> psk, e` / `<- e, ee`) with P-256 ECDH, HKDF-SHA-256 and AES-256-GCM, all from
 * WebCrypto so the same code runs in Chromium, Safari, Firefox and Node (docs/relay.md).
 *
 * Written here rather than taken from npm: the maintained Noise libraries are either libp2p's XX
 * only (@chainsafe/libp2p-noise) or built on libsodium's native addon (noise-handshake,
 * noise-protocol), and none keeps the pairing secret as a non-extractable CryptoKey. This file only
 * composes WebCrypto primitives following the Noise specification's SymmetricState; it implements
 * no cipher, hash or curve of its own.
 *
 * P-256 rather than X25519: every browser with WebCrypto has P-256 ECDH; X25519 came to Chromium
 * only in 2025, and phones keep old browsers for years.
 */
import { concat, fromUtf8, own, utf8 } from './bytes.ts';
import { TunnelError } from './errors.ts';

export const PROTOCOL_NAME = 'Keel_NNpsk0_P256_AESGCM_SHA256';
export const PROTOCOL_VERSION = 1;
/** Uncompressed P-256 public key: 0x04 || x || y. */
export const PUBLIC_KEY_BYTES = 65;
export const TAG_BYTES = 16;
/** Handshake payloads are small JSON objects; anything larger is refused before decryption. */
export const MAX_HANDSHAKE_PAYLOAD_BYTES = 4096;

export const FrameType = { init: 1, accept: 2, data: 3 } as const;

const subtle = globalThis.crypto.subtle;
const EMPTY = new Uint8Array(0);

async function sha256(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle.digest('SHA-256', own(data)));
}

/**
 * Noise's HKDF(chaining_key, input_key_material, n): RFC 5869 extract with the chaining key as the
 * salt, then expand with empty info — the same bytes as Noise's HMAC construction. The input may be
 * a non-extractable CryptoKey (the pairing secret): WebCrypto takes it as the HKDF key directly.
 */
async function hkdf(ck: Uint8Array, ikm: Uint8Array | CryptoKey, n: 2 | 3): Promise<Uint8Array<ArrayBuffer>[]> {
  const key = ikm instanceof Uint8Array ? await subtle.importKey('raw', own(ikm), 'HKDF', false, ['deriveBits']) : ikm;
  const bits = new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: own(ck), info: EMPTY }, key, 256 * n));
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < n; i++) out.push(bits.slice(i * 32, i * 32 + 32));
  return out;
}

export function aesKey(raw: Uint8Array, usage: 'encrypt' | 'decrypt' | 'both'): Promise<CryptoKey> {
  const usages: KeyUsage[] = usage === 'both' ? ['encrypt', 'decrypt'] : [usage];
  return subtle.importKey('raw', own(raw), { name: 'AES-GCM' }, false, usages);
}

/** Noise's AESGCM nonce: 32 zero bits then the 64-bit counter, big-endian. */
export function nonce(n: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12);
  new DataView(iv.buffer).setBigUint64(4, BigInt(n));
  return iv;
}

/** Imports the 32-byte pairing secret as the key the handshake needs, non-extractable. */
export function importPairingSecret(secret: Uint8Array): Promise<CryptoKey> {
  if (secret.length !== 32) throw new TunnelError('handshake_failed', 'A pairing secret is 32 bytes.');
  return subtle.importKey('raw', own(secret), 'HKDF', false, ['deriveBits']);
}

/** The prologue binds the transcript to this host and this pairing: a frame meant for another host or pairing cannot verify. */
export function prologue(hostId: string, pairingId: string): Uint8Array {
  const h = utf8.encode(hostId);
  const p = utf8.encode(pairingId);
  return concat(utf8.encode(`keel-tunnel/${PROTOCOL_VERSION}\0`), new Uint8Array([h.length]), h, new Uint8Array([p.length]), p);
}

/** Noise's SymmetricState (ck, h, k, n). */
class SymmetricState {
  ck!: Uint8Array;
  h!: Uint8Array;
  #k: CryptoKey | undefined;
  #n = 0;

  static async create(prologueBytes: Uint8Array): Promise<SymmetricState> {
    const s = new SymmetricState();
    s.h = await sha256(utf8.encode(PROTOCOL_NAME));
    s.ck = s.h;
    await s.mixHash(prologueBytes);
    return s;
  }

  async mixHash(data: Uint8Array): Promise<void> {
    this.h = await sha256(concat(this.h, data));
  }

  async mixKey(ikm: Uint8Array): Promise<void> {
    const [ck, k] = await hkdf(this.ck, ikm, 2);
    this.ck = ck!;
    this.#k = await aesKey(k!, 'both');
    this.#n = 0;
  }

  async mixKeyAndHash(psk: CryptoKey): Promise<void> {
    const [ck, th, k] = await hkdf(this.ck, psk, 3);
    this.ck = ck!;
    await this.mixHash(th!);
    this.#k = await aesKey(k!, 'both');
    this.#n = 0;
  }

  async encryptAndHash(plaintext: Uint8Array): Promise<Uint8Array> {
    const c = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce(this.#n++), additionalData: own(this.h) }, this.#k!, own(plaintext)));
    await this.mixHash(c);
    return c;
  }

  async decryptAndHash(ciphertext: Uint8Array): Promise<Uint8Array> {
    let p: ArrayBuffer;
    try {
      p = await subtle.decrypt({ name: 'AES-GCM', iv: nonce(this.#n++), additionalData: own(this.h) }, this.#k!, own(ciphertext));
    } catch {
      throw new TunnelError('handshake_failed', 'The end-to-end handshake did not verify: wrong pairing secret, another host, or a tampered handshake.');
    }
    await this.mixHash(ciphertext);
    return new Uint8Array(p);
  }

  /** Two transport keys: initiator→responder, responder→initiator. */
  async split(): Promise<[Uint8Array, Uint8Array]> {
    const [a, b] = await hkdf(this.ck, EMPTY, 2);
    return [a!, b!];
  }
}

async function ephemeral(): Promise<{ pair: CryptoKeyPair; pub: Uint8Array }> {
  const pair = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
  return { pair, pub: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

async function dh(priv: CryptoKey, peerPub: Uint8Array): Promise<Uint8Array> {
  let peer: CryptoKey;
  try {
    // importKey validates that the point is on the curve (an invalid-curve attack fails here).
    peer = await subtle.importKey('raw', own(peerPub), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  } catch {
    throw new TunnelError('handshake_failed', 'The peer sent an invalid ephemeral key.');
  }
  return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: peer }, priv, 256));
}

/** What a completed handshake yields: the raw transport keys and the handshake hash (a channel binding). */
export interface HandshakeResult {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  /** The final handshake hash: equal on both sides, unique to this connection. */
  handshakeHash: Uint8Array;
  /** The peer's handshake payload (JSON). */
  peerPayload: Record<string, unknown>;
}

function encodePayload(p: Record<string, unknown>): Uint8Array {
  const b = utf8.encode(JSON.stringify(p));
  if (b.length > MAX_HANDSHAKE_PAYLOAD_BYTES) throw new RangeError('handshake payload too large');
  return b;
}

function decodePayload(b: Uint8Array): Record<string, unknown> {
  try {
    const v = JSON.parse(fromUtf8(b)) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // Falls through to the error below.
  }
  throw new TunnelError('protocol', 'The handshake payload is not a JSON object.');
}

const PAIRING_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Initiator (browser), message 1: `[1][version][len][pairingId][e.pub][AEAD(payload)]`.
 * `finish` takes the host's message 2 and completes the handshake.
 */
export async function initiate(o: { hostId: string; pairingId: string; psk: CryptoKey; payload: Record<string, unknown> }): Promise<{
  message: Uint8Array;
  finish(message2: Uint8Array): Promise<HandshakeResult>;
}> {
  if (!PAIRING_ID.test(o.pairingId)) throw new TunnelError('handshake_failed', 'Malformed pairing id.');
  const ss = await SymmetricState.create(prologue(o.hostId, o.pairingId));
  await ss.mixKeyAndHash(o.psk);
  const e = await ephemeral();
  await ss.mixHash(e.pub);
  await ss.mixKey(e.pub);
  const c1 = await ss.encryptAndHash(encodePayload(o.payload));
  const id = utf8.encode(o.pairingId);
  const message = concat(new Uint8Array([FrameType.init, PROTOCOL_VERSION, id.length]), id, e.pub, c1);
  return {
    message,
    async finish(m2) {
      if (m2.length < 1 + PUBLIC_KEY_BYTES + TAG_BYTES || m2[0] !== FrameType.accept || m2.length > 1 + PUBLIC_KEY_BYTES + MAX_HANDSHAKE_PAYLOAD_BYTES + TAG_BYTES) {
        throw new TunnelError('handshake_failed', 'The host answered with a malformed handshake message.');
      }
      const re = m2.subarray(1, 1 + PUBLIC_KEY_BYTES);
      await ss.mixHash(re);
      await ss.mixKey(re);
      await ss.mixKey(await dh(e.pair.privateKey, re));
      const p2 = await ss.decryptAndHash(m2.subarray(1 + PUBLIC_KEY_BYTES));
      const [i2r, r2i] = await ss.split();
      return { sendKey: i2r, recvKey: r2i, handshakeHash: ss.h, peerPayload: decodePayload(p2) };
    },
  };
}

/** Reads the pairing id from message 1 (in clear: it names which secret the host must use). */
export function readInit(m1: Uint8Array): { pairingId: string } {
  if (m1.length < 3 || m1[0] !== FrameType.init) throw new TunnelError('protocol', 'The first tunnel frame is not a handshake.');
  if (m1[1] !== PROTOCOL_VERSION) throw new TunnelError('handshake_failed', `Unsupported tunnel protocol version ${m1[1]} (this host speaks ${PROTOCOL_VERSION}); reload the page.`);
  const n = m1[2]!;
  if (m1.length < 3 + n + PUBLIC_KEY_BYTES + TAG_BYTES || m1.length > 3 + n + PUBLIC_KEY_BYTES + MAX_HANDSHAKE_PAYLOAD_BYTES + TAG_BYTES) {
    throw new TunnelError('handshake_failed', 'Malformed handshake message.');
  }
  let pairingId: string;
  try {
    pairingId = fromUtf8(m1.subarray(3, 3 + n));
  } catch {
    throw new TunnelError('handshake_failed', 'Malformed pairing id.');
  }
  if (!PAIRING_ID.test(pairingId)) throw new TunnelError('handshake_failed', 'Malformed pairing id.');
  return { pairingId };
}

/** Responder (host): verifies message 1 with the pairing's secret and builds message 2. */
export async function respond(o: { hostId: string; psk: CryptoKey; message1: Uint8Array; payload: Record<string, unknown> }): Promise<HandshakeResult & { message: Uint8Array }> {
  const { pairingId } = readInit(o.message1);
  const off = 3 + utf8.encode(pairingId).length;
  const ie = o.message1.subarray(off, off + PUBLIC_KEY_BYTES);
  const ss = await SymmetricState.create(prologue(o.hostId, pairingId));
  await ss.mixKeyAndHash(o.psk);
  await ss.mixHash(ie);
  await ss.mixKey(ie);
  const p1 = await ss.decryptAndHash(o.message1.subarray(off + PUBLIC_KEY_BYTES));
  const e = await ephemeral();
  await ss.mixHash(e.pub);
  await ss.mixKey(e.pub);
  await ss.mixKey(await dh(e.pair.privateKey, ie));
  const c2 = await ss.encryptAndHash(encodePayload(o.payload));
  const [i2r, r2i] = await ss.split();
  return { message: concat(new Uint8Array([FrameType.accept]), e.pub, c2), sendKey: r2i, recvKey: i2r, handshakeHash: ss.h, peerPayload: decodePayload(p1) };
}

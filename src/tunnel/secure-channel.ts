/**
 * An end-to-end authenticated, encrypted channel over any ordered frame transport: a WebSocket
 * through the relay today, an RTCDataChannel tomorrow. After the handshake (handshake.ts), every
 * frame is `[3][counter: u64 BE][AES-256-GCM(plaintext)]`, with the counter in the nonce and the
 * 9-byte header as associated data. Counters are strictly sequential per direction: a replayed,
 * reordered, dropped, tampered or foreign frame fails, the channel closes with a clear reason, and
 * nothing after it is delivered.
 */
import { concat, own, readU64, u64 } from './bytes.ts';
import { FrameType, aesKey, initiate, nonce, readInit, respond, TAG_BYTES, type HandshakeResult } from './handshake.ts';
import { TunnelClose, TunnelError, closeReason } from './errors.ts';

/** What the channel needs from a transport. Frames arrive whole and in order (WebSocket, reliable ordered data channel). */
export interface FrameTransport {
  send(frame: Uint8Array): void;
  close(code: number, reason: string): void;
  onframe: ((frame: Uint8Array) => void) | null;
  onclose: ((code: number, reason: string) => void) | null;
}

const HEADER_BYTES = 9;
/**
 * Frames kept for a listener that is not attached yet (the peer may speak first). The wait is one
 * turn of the event loop in practice and the peer's send credit bounds it too; past this the peer
 * is not following the protocol and the channel is closed.
 */
export const MAX_EARLY_FRAMES = 4096;
export const MAX_EARLY_BYTES = 4 * 1024 * 1024;
const subtle = globalThis.crypto.subtle;

export class SecureChannel {
  readonly handshakeHash: Uint8Array;
  readonly peerPayload: Record<string, unknown>;
  onmessage: ((plaintext: Uint8Array) => void) | null = null;
  onclose: ((code: number, reason: string) => void) | null = null;

  readonly #transport: FrameTransport;
  readonly #send: CryptoKey;
  readonly #recv: CryptoKey;
  #sendCounter = 0;
  #recvCounter = 0;
  #sendTail: Promise<void> = Promise.resolve();
  #recvTail: Promise<void> = Promise.resolve();
  #closed = false;
  #failing = false;
  /** Frames that arrived before the caller set onmessage (the peer may speak first). */
  #early: Uint8Array[] | undefined = [];
  #earlyBytes = 0;
  #confirmed = false;
  #onConfirmed: (() => void) | undefined;
  /** Resolves when the first frame from the peer has verified: key confirmation (docs/relay.md). */
  readonly confirmed: Promise<void>;

  private constructor(transport: FrameTransport, send: CryptoKey, recv: CryptoKey, hs: HandshakeResult) {
    this.#transport = transport;
    this.#send = send;
    this.#recv = recv;
    this.handshakeHash = hs.handshakeHash;
    this.peerPayload = hs.peerPayload;
    this.confirmed = new Promise((resolve) => (this.#onConfirmed = resolve));
    transport.onframe = (f) => this.#onFrame(f);
    transport.onclose = (code, reason) => this.#closedBy(code, reason);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Initiator side: sends message 1, waits for message 2 (or the transport's close, e.g. a refusal). */
  static async connect(transport: FrameTransport, o: { hostId: string; pairingId: string; psk: CryptoKey; payload: Record<string, unknown>; timeoutMs: number }): Promise<SecureChannel> {
    // Listen before the first await: a close that comes while message 1 is being made (a refusal,
    // a busy host) must not be missed, or the page would wait for the timeout instead.
    let hs: Awaited<ReturnType<typeof initiate>> | undefined;
    const m2 = await firstFrame(transport, o.timeoutMs, async () => {
      hs = await initiate(o);
      transport.send(hs.message);
    });
    let result: HandshakeResult;
    try {
      result = await hs!.finish(m2);
    } catch (err) {
      const e = err instanceof TunnelError ? err : new TunnelError('handshake_failed', (err as Error).message);
      transport.close(e.closeCode, closeReason(e.message));
      throw e;
    }
    return SecureChannel.#make(transport, result);
  }

  /**
   * Responder side: waits for message 1, asks `lookup` for the pairing's secret (undefined refuses
   * with `refusal`), answers with message 2. The caller must wait for `confirmed` before acting on
   * anything: until the initiator's first frame verifies, message 1 may be a replay.
   */
  static async accept(
    transport: FrameTransport,
    o: { hostId: string; lookup(pairingId: string): Promise<CryptoKey | { refused: string }>; payload: Record<string, unknown>; timeoutMs: number },
  ): Promise<{ channel: SecureChannel; pairingId: string }> {
    const m1 = await firstFrame(transport, o.timeoutMs);
    try {
      const { pairingId } = readInit(m1);
      const psk = await o.lookup(pairingId);
      if (!(psk instanceof CryptoKey)) throw new TunnelError('refused', psk.refused);
      const result = await respond({ hostId: o.hostId, psk, message1: m1, payload: o.payload });
      const channel = await SecureChannel.#make(transport, result);
      transport.send(result.message);
      return { channel, pairingId };
    } catch (err) {
      const e = err instanceof TunnelError ? err : new TunnelError('handshake_failed', (err as Error).message);
      transport.close(e.closeCode, closeReason(e.message));
      throw e;
    }
  }

  static async #make(transport: FrameTransport, r: HandshakeResult): Promise<SecureChannel> {
    const [send, recv] = await Promise.all([aesKey(r.sendKey, 'encrypt'), aesKey(r.recvKey, 'decrypt')]);
    r.sendKey.fill(0);
    r.recvKey.fill(0);
    return new SecureChannel(transport, send, recv, r);
  }

  /** Encrypts and sends; frames leave in call order (encryption runs concurrently, sending does not). */
  send(plaintext: Uint8Array): void {
    if (this.#closed) return;
    const header = concat(new Uint8Array([FrameType.data]), u64(this.#sendCounter));
    const sealed = subtle.encrypt({ name: 'AES-GCM', iv: nonce(this.#sendCounter), additionalData: header }, this.#send, own(plaintext));
    this.#sendCounter++;
    this.#sendTail = this.#sendTail.then(async () => {
      let c: ArrayBuffer;
      try {
        c = await sealed;
      } catch (err) {
        this.#fail(new TunnelError('protocol', `Encryption failed: ${(err as Error).message}`));
        return;
      }
      if (!this.#closed) this.#transport.send(concat(header, new Uint8Array(c)));
    });
  }

  /** Closes the channel and its transport. */
  close(code: number = 1000, reason = ''): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.onframe = null;
    this.#transport.onclose = null;
    this.#transport.close(code, closeReason(reason));
    this.onclose?.(code, reason);
  }

  #closedBy(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onclose?.(code, reason);
  }

  #fail(err: TunnelError): void {
    this.close(err.closeCode, err.message);
  }

  /** Frames that verified before the bad one are still delivered; nothing after it is even decrypted. */
  #failInOrder(err: TunnelError): void {
    this.#failing = true;
    this.#recvTail = this.#recvTail.then(() => this.#fail(err));
  }

  #onFrame(frame: Uint8Array): void {
    if (this.#closed || this.#failing) return;
    if (frame.length < HEADER_BYTES + TAG_BYTES || frame[0] !== FrameType.data) {
      this.#failInOrder(new TunnelError('tampered', 'A tunnel frame was malformed: the connection was tampered with. Closed; nothing in it was used.'));
      return;
    }
    const counter = readU64(frame, 1);
    const expected = this.#recvCounter;
    if (counter < expected) {
      this.#failInOrder(new TunnelError('replayed', `A tunnel frame was replayed (counter ${counter}, expected ${expected}). Closed; nothing in it was used.`));
      return;
    }
    if (counter > expected) {
      this.#failInOrder(new TunnelError('reordered', `A tunnel frame is missing or out of order (counter ${counter}, expected ${expected}). Closed; nothing after it was used.`));
      return;
    }
    this.#recvCounter++;
    const header = frame.slice(0, HEADER_BYTES);
    const opened = subtle.decrypt({ name: 'AES-GCM', iv: nonce(counter), additionalData: header }, this.#recv, own(frame.subarray(HEADER_BYTES)));
    // Swallowed here, reported in order below: a rejection must not surface as an unhandled one.
    opened.catch(() => {});
    this.#recvTail = this.#recvTail.then(async () => {
      let p: Uint8Array;
      try {
        p = new Uint8Array(await opened);
      } catch {
        this.#failing = true;
        this.#fail(new TunnelError('tampered', 'A tunnel frame failed authentication (tampered, or from another tunnel). Closed; nothing in it was used.'));
        return;
      }
      if (this.#closed) return;
      if (!this.#confirmed) {
        this.#confirmed = true;
        this.#onConfirmed?.();
      }
      this.#deliver(p);
    });
  }

  #deliver(p: Uint8Array): void {
    if (this.onmessage) {
      if (this.#early?.length) for (const e of this.#early.splice(0)) this.onmessage(e);
      this.#early = undefined;
      this.onmessage(p);
    } else if (this.#early) {
      this.#earlyBytes += p.length;
      if (this.#early.length >= MAX_EARLY_FRAMES || this.#earlyBytes > MAX_EARLY_BYTES) {
        this.#early = [];
        this.#fail(new TunnelError('protocol', `The peer sent more than ${MAX_EARLY_FRAMES} frames or ${MAX_EARLY_BYTES} bytes before this end was listening. Closed.`));
        return;
      }
      this.#early.push(p);
    }
  }

  /** Delivers frames that arrived before onmessage was set. */
  flushEarly(): void {
    if (!this.onmessage || !this.#early) return;
    const early = this.#early;
    this.#early = undefined;
    for (const e of early) this.onmessage(e);
  }
}

/** Waits for the transport's first frame (after `start`), bounded by a timeout; a close rejects with its reason. */
function firstFrame(transport: FrameTransport, timeoutMs: number, start?: () => void | Promise<void>): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      transport.onframe = null;
      transport.onclose = null;
    };
    const timer = setTimeout(() => {
      done();
      const e = new TunnelError('handshake_failed', `The end-to-end handshake did not complete within ${Math.round(timeoutMs / 1000)} s.`, TunnelClose.timeout);
      transport.close(e.closeCode, e.message);
      reject(e);
    }, timeoutMs);
    transport.onframe = (f) => {
      done();
      resolve(f);
    };
    transport.onclose = (code, reason) => {
      done();
      reject(closeToError(code, reason));
    };
    Promise.resolve()
      .then(start)
      .catch((err: unknown) => {
        done();
        reject(err);
      });
  });
}

/** A close seen during the handshake, as the error the user should read. */
export function closeToError(code: number, reason: string): TunnelError {
  if (code === TunnelClose.pairingRefused) return new TunnelError('refused', reason || 'The host refused this pairing.', code);
  return new TunnelError('closed', reason || `The tunnel closed (code ${code}).`, code);
}

/**
 * The direct path: a WebRTC data channel between browser and host, negotiated through the relayed
 * tunnel. The host offers (werift on Node), the browser answers (its own RTCPeerConnection).
 *
 * Why the relay cannot get in the middle: the offer and answer — with each side's DTLS certificate
 * fingerprint — travel as path-layer `signal` messages inside the end-to-end channel, so a relay
 * that swapped fingerprints would have to forge an authenticated frame. On top of DTLS the data
 * channel runs its own end-to-end channel (defence in depth: the same handshake with the same
 * pairing secret, fresh ephemeral keys, and a payload that binds it to the relayed channel's
 * handshake hash), so a flaw in a WebRTC stack's DTLS does not expose a byte either.
 *
 * Non-trickle ICE: each side waits for its candidates (at most `gatherMs`) and sends one
 * description. One offer and one answer per attempt, each at most `maxSdpBytes`: that is all the
 * signalling there is to bound.
 */
import { toBase64url } from './bytes.ts';
import { TunnelError } from './errors.ts';
import type { PathChannel } from './paths.ts';
import { SecureChannel, type FrameTransport } from './secure-channel.ts';

export interface IceServer {
  urls: string;
}

/** What the direct path uses of a data channel (the browser's RTCDataChannel and werift's both fit). */
export interface DataChannelLike {
  readonly readyState: string;
  readonly bufferedAmount: number;
  binaryType?: string;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(): void;
  onopen: ((...a: unknown[]) => unknown) | null | undefined;
  onclose: ((...a: unknown[]) => unknown) | null | undefined;
  onmessage: ((ev: { data: unknown }) => unknown) | null | undefined;
}

/** What the direct path uses of an RTCPeerConnection. */
export interface PeerLike {
  createDataChannel(label: string, o: { ordered: boolean }): DataChannelLike;
  createOffer(): Promise<{ type: string; sdp?: string }>;
  createAnswer(): Promise<{ type: string; sdp?: string }>;
  setLocalDescription(d: { type: string; sdp?: string }): Promise<unknown>;
  setRemoteDescription(d: { type: 'offer' | 'answer'; sdp: string }): Promise<unknown>;
  readonly localDescription: { type: string; sdp: string } | null;
  readonly iceGatheringState: string;
  readonly connectionState: string;
  onicegatheringstatechange: ((...a: unknown[]) => unknown) | null | undefined;
  onconnectionstatechange: ((...a: unknown[]) => unknown) | null | undefined;
  ondatachannel: ((ev: { channel: DataChannelLike }) => unknown) | null | undefined;
  close(): unknown;
}

/** Makes a peer connection: the browser's RTCPeerConnection, or werift's on the host (loaded on first use). */
export type MakePeer = (iceServers: IceServer[]) => PeerLike | Promise<PeerLike>;

export interface DirectLimits {
  /** From the request to an open, authenticated direct channel. */
  timeoutMs: number;
  /** How long each side waits for its ICE candidates before sending its description anyway. */
  gatherMs: number;
  /** Bytes waiting in the data channel's send buffer; past it the direct path is given up (the relay takes over). */
  maxBufferedBytes: number;
  maxSdpBytes: number;
  maxIceServers: number;
}

export const DEFAULT_DIRECT_LIMITS: DirectLimits = {
  timeoutMs: 20_000,
  gatherMs: 3_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxSdpBytes: 16 * 1024,
  maxIceServers: 4,
};

/** Largest message either side may send on the data channel (werift's default is 64 KiB; tunnel frames go up to 64 KiB + headers). */
export const DATA_CHANNEL_MAX_MESSAGE_BYTES = 256 * 1024;

export type Signal = { t: 'direct' } | { t: 'offer'; sdp: string; iceServers: IceServer[] } | { t: 'answer'; sdp: string } | { t: 'bye'; reason: string };

/** Checks a signalling message from the peer; throws a TunnelError on anything malformed. */
export function parseSignal(v: Record<string, unknown>, limits: DirectLimits = DEFAULT_DIRECT_LIMITS): Signal {
  const sdp = (x: unknown) => {
    if (typeof x !== 'string' || x.length === 0 || x.length > limits.maxSdpBytes) throw new TunnelError('protocol', 'A session description was missing or too large.');
    return x;
  };
  switch (v.t) {
    case 'direct':
      return { t: 'direct' };
    case 'offer':
      return { t: 'offer', sdp: sdp(v.sdp), iceServers: parseIceServers(v.iceServers, limits.maxIceServers) };
    case 'answer':
      return { t: 'answer', sdp: sdp(v.sdp) };
    case 'bye':
      return { t: 'bye', reason: typeof v.reason === 'string' ? v.reason.slice(0, 200) : 'the peer gave up the direct path' };
    default:
      throw new TunnelError('protocol', 'Unknown signalling message.');
  }
}

const ICE_URL = /^(stun|stuns|turn|turns):[^\s]{1,250}$/;

export function parseIceServers(v: unknown, max: number): IceServer[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter((s): s is { urls: string } => !!s && typeof (s as { urls?: unknown }).urls === 'string' && ICE_URL.test((s as { urls: string }).urls))
    .slice(0, max)
    .map((s) => ({ urls: s.urls }));
}

/** Frames a data channel may deliver before the handshake listens (the peer's first message can beat our open event). */
const MAX_EARLY_FRAMES = 4;

/**
 * A data channel as a frame transport for SecureChannel, bounded by its send buffer. Made as soon
 * as the channel exists, so a frame that arrives before anyone listens is kept (a few), not lost.
 */
export function dataChannelTransport(dc: DataChannelLike, maxBufferedBytes: number): FrameTransport & { fail(reason: string): void } {
  let done = false;
  let onframe: ((f: Uint8Array) => void) | null = null;
  const early: Uint8Array[] = [];
  const t: FrameTransport & { fail(reason: string): void } = {
    send: (f) => {
      if (done || dc.readyState !== 'open') return;
      if (dc.bufferedAmount + f.length > maxBufferedBytes) {
        t.fail(`the direct connection's send buffer passed ${maxBufferedBytes} bytes`);
        return;
      }
      try {
        dc.send(f as Uint8Array<ArrayBuffer>);
      } catch (err) {
        t.fail(`the direct connection refused a message: ${(err as Error).message}`);
      }
    },
    close: () => {
      if (done) return;
      done = true;
      try {
        dc.close();
      } catch {
        // Already closed.
      }
    },
    fail: (reason) => {
      if (done) return;
      t.close(1006, reason);
      t.onclose?.(1006, reason);
    },
    get onframe() {
      return onframe;
    },
    set onframe(fn) {
      onframe = fn;
      while (onframe && early.length && !done) onframe(early.shift()!);
    },
    onclose: null,
  };
  const frame = (f: Uint8Array) => {
    if (onframe) onframe(f);
    else if (early.length < MAX_EARLY_FRAMES) early.push(f);
    else t.fail('the direct connection sent too much before its handshake');
  };
  dc.binaryType = 'arraybuffer';
  dc.onmessage = (ev) => {
    const d = ev.data;
    if (done) return;
    if (d instanceof ArrayBuffer) frame(new Uint8Array(d));
    else if (d instanceof Uint8Array) frame(d);
    else t.fail('the direct connection sent text');
  };
  dc.onclose = () => {
    if (done) return;
    done = true;
    t.onclose?.(1006, 'the direct connection closed');
  };
  return t;
}

/** Waits until the peer has gathered its candidates, or `ms` passed (then its description has those found so far). */
function gathered(pc: PeerLike, ms: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      resolve();
    };
  });
}

/** The end-to-end binding of the direct channel to the relayed one: both must name the same handshake hash. */
function checkBinding(ch: SecureChannel, bind: string): void {
  const got = ch.peerPayload.bind;
  if (typeof got !== 'string' || got !== bind) throw new TunnelError('handshake_failed', 'The direct channel does not belong to this tunnel.');
}

export interface DirectAttemptOptions {
  makePeer: MakePeer;
  /** Sends a signalling message over the relayed, end-to-end authenticated path. */
  signal(s: Signal): void;
  /** The relayed channel's handshake hash: the direct channel must name it. */
  parentHash: Uint8Array;
  limits: DirectLimits;
  /** The open, authenticated direct channel. */
  onOpen(ch: SecureChannel): void;
  /** The attempt failed or the open path died (after onOpen, closing the channel reports it to the path layer too). */
  onEnd(reason: string): void;
}

/**
 * One attempt at a direct path and, once it opens, the owner of its peer connection until it
 * ends. Ends at most once, for one reason: timeout, a failed connection, a handshake that did not
 * verify, a `bye` from the peer, or `close()`.
 */
abstract class DirectAttempt {
  protected readonly o: DirectAttemptOptions;
  protected pc: PeerLike | undefined;
  protected transport: (FrameTransport & { fail(reason: string): void }) | undefined;
  protected channel: SecureChannel | undefined;
  readonly #timer: ReturnType<typeof setTimeout>;
  #ended = false;

  constructor(o: DirectAttemptOptions) {
    this.o = o;
    this.#timer = setTimeout(() => this.end(`no direct connection within ${Math.round(o.limits.timeoutMs / 1000)} s`, true), o.limits.timeoutMs);
  }

  get ended(): boolean {
    return this.#ended;
  }

  protected get bind(): string {
    return toBase64url(this.o.parentHash);
  }

  protected watch(pc: PeerLike): void {
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.end(`the direct connection ${pc.connectionState}`, false);
    };
  }

  /** Wraps a data channel the moment it exists (its first frames must not be lost). */
  protected adopt(dc: DataChannelLike): FrameTransport {
    this.transport = dataChannelTransport(dc, this.o.limits.maxBufferedBytes);
    return this.transport;
  }

  protected async opened(t: FrameTransport, secure: (t: FrameTransport) => Promise<SecureChannel>): Promise<void> {
    if (this.#ended) return;
    let ch: SecureChannel;
    try {
      ch = await secure(t);
    } catch (err) {
      this.end(`the direct channel's handshake failed: ${(err as Error).message}`, true);
      return;
    }
    if (this.#ended) {
      ch.close(1000, 'direct attempt ended');
      return;
    }
    clearTimeout(this.#timer);
    this.channel = ch;
    this.o.onOpen(ch);
  }

  /** A message from the peer for this attempt. */
  abstract onSignal(s: Signal): void;

  /** Ends the attempt or the open path; `tell` sends the peer a bye. */
  end(reason: string, tell: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    if (tell) this.o.signal({ t: 'bye', reason });
    // Closing the secure channel reports the end to the path layer (it falls back); the transport and the peer connection go with it.
    if (this.channel) this.transport?.fail(reason);
    else this.transport?.close(1000, reason);
    try {
      void Promise.resolve(this.pc?.close()).catch(() => {});
    } catch {
      // Already closed.
    }
    this.pc = undefined;
    this.o.onEnd(reason);
  }
}

/** The host's side: makes the peer connection and the data channel, offers, accepts the handshake. */
export class DirectOffer extends DirectAttempt {
  readonly #accept: (t: FrameTransport, bind: string) => Promise<SecureChannel>;

  constructor(o: DirectAttemptOptions & { iceServers: IceServer[]; accept(t: FrameTransport, payload: Record<string, unknown>): Promise<SecureChannel> }) {
    super(o);
    this.#accept = async (t, bind) => {
      const ch = await o.accept(t, { v: 1, bind });
      checkBinding(ch, bind);
      // Key confirmation on this channel too: the browser's first frame must verify before the path is used.
      await ch.confirmed;
      return ch;
    };
    void this.#start(o.iceServers).catch((err: unknown) => this.end(`the host could not offer a direct connection: ${(err as Error).message}`, true));
  }

  async #start(iceServers: IceServer[]): Promise<void> {
    const pc = await this.o.makePeer(iceServers);
    if (this.ended) return void pc.close();
    this.pc = pc;
    this.watch(pc);
    const dc = pc.createDataChannel('keel', { ordered: true });
    const t = this.adopt(dc);
    dc.onopen = () => void this.opened(t, (t) => this.#accept(t, this.bind));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, this.o.limits.gatherMs);
    if (this.ended) return;
    const sdp = pc.localDescription?.sdp ?? '';
    if (sdp.length > this.o.limits.maxSdpBytes) throw new Error('the offer is larger than the signalling limit');
    this.o.signal({ t: 'offer', sdp, iceServers });
  }

  onSignal(s: Signal): void {
    if (s.t === 'answer' && this.pc) {
      this.pc.setRemoteDescription({ type: 'answer', sdp: s.sdp }).catch((err: unknown) => this.end(`the browser's answer was refused: ${(err as Error).message}`, true));
    } else if (s.t === 'bye') this.end(s.reason, false);
  }
}

/** The browser's side: asks for a direct path, answers the host's offer, runs the handshake as initiator. */
export class DirectAnswer extends DirectAttempt {
  readonly #connect: (t: FrameTransport, payload: Record<string, unknown>) => Promise<SecureChannel>;

  constructor(o: DirectAttemptOptions & { connect(t: FrameTransport, payload: Record<string, unknown>): Promise<SecureChannel> }) {
    super(o);
    this.#connect = o.connect;
    o.signal({ t: 'direct' });
  }

  onSignal(s: Signal): void {
    if (s.t === 'offer' && !this.pc) void this.#answer(s.sdp, s.iceServers).catch((err: unknown) => this.end(`the browser could not answer the direct offer: ${(err as Error).message}`, true));
    else if (s.t === 'bye') this.end(s.reason, false);
  }

  async #answer(sdp: string, iceServers: IceServer[]): Promise<void> {
    const pc = await this.o.makePeer(iceServers);
    if (this.ended) return void pc.close();
    this.pc = pc;
    this.watch(pc);
    pc.ondatachannel = (ev) => {
      const dc = ev.channel;
      if (this.transport) return; // One data channel per attempt.
      const tr = this.adopt(dc);
      const go = () =>
        void this.opened(tr, async (t) => {
          const ch = await this.#connect(t, { v: 1, bind: this.bind });
          checkBinding(ch, this.bind);
          return ch;
        });
      if (dc.readyState === 'open') go();
      else dc.onopen = go;
    };
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc, this.o.limits.gatherMs);
    if (this.ended) return;
    this.o.signal({ t: 'answer', sdp: pc.localDescription?.sdp ?? '' });
  }
}


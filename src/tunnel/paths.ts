/**
 * The paths of one tunnel, under the mux: the relayed channel (the primary: its life is the
 * tunnel's) and, once one opens, a direct WebRTC data channel. Mux messages take the direct path
 * when it is there and go back to the relay when it fails, in order and without loss, so streams
 * (terminals, documents, requests) never notice the move.
 *
 * How, without a sequence number on every message: both ends count the mux messages each path
 * carries. A path's count starts at 0 on the primary, and at `from` after a `resume(from)` on that
 * path. The receiver delivers the message whose count is the next one it expects, drops counts it
 * has already delivered (a copy resent over the other path), and holds counts that are ahead (a
 * direct path overtaking the relay) until the other path catches up — bounded by `maxHeldBytes`.
 * Messages sent on the direct path stay in the sender's buffer until the receiver acknowledges
 * them (`ack(delivered)`), bounded by `maxUnackedBytes`; on a fallback the sender says
 * `resume(first unacknowledged)` on the relay and sends them again. Messages sent on the relay are
 * never kept: if the relay path dies, the tunnel dies with it and the page reconnects as before.
 *
 * Path-layer messages share the channel's plaintext with the mux: first byte 0x40–0x43, never a
 * mux op. They are spoken only when both ends declared `paths: 1` in their handshake payloads.
 */
import { concat, readU64, u64, utf8 } from './bytes.ts';
import { TunnelClose, TunnelError } from './errors.ts';
import { parseJson } from './mux.ts';

export const PathOp = {
  /** [u64 delivered]: every message below this count arrived; the sender may forget them. */
  ack: 0x40,
  /** [u64 from]: the next mux message on this path has count `from`. */
  resume: 0x41,
  /** JSON: WebRTC signalling, accepted on the relayed path only (it is the authenticated one). */
  signal: 0x42,
  /** Nothing: keeps the relay's idle timer from closing a tunnel whose traffic went direct. */
  keepalive: 0x43,
} as const;

export type PathKind = 'relayed' | 'direct';

/** A secure channel as the path layer uses it (SecureChannel fits). */
export interface PathChannel {
  send(plaintext: Uint8Array): void;
  close(code: number, reason: string): void;
  onmessage: ((plaintext: Uint8Array) => void) | null;
  onclose: ((code: number, reason: string) => void) | null;
  /** Delivers what arrived before onmessage was set (SecureChannel keeps those). */
  flushEarly?(): void;
}

export interface PathLimits {
  /** Bytes that arrived early on one path, held until the other catches up. Past it the direct path is dropped (its messages come again over the relay). */
  maxHeldBytes: number;
  /** Bytes sent on the direct path and not yet acknowledged. Past it the sender falls back to the relay. */
  maxUnackedBytes: number;
  /** A direct message unacknowledged this long means the direct path is stuck: fall back. */
  stallMs: number;
  /** Delay before an acknowledgement is sent (they are coalesced). */
  ackDelayMs: number;
  /** Keepalive on the relayed path while traffic goes direct (below the relay's idle timeout). */
  keepaliveMs: number;
  /** Largest signalling message. */
  maxSignalBytes: number;
}

export const DEFAULT_PATH_LIMITS: PathLimits = {
  maxHeldBytes: 1024 * 1024,
  maxUnackedBytes: 1024 * 1024,
  stallMs: 5_000,
  ackDelayMs: 40,
  keepaliveMs: 15_000,
  maxSignalBytes: 32 * 1024,
};

export interface PathSwitchOptions {
  primary: PathChannel;
  /** Both ends speak the path layer; otherwise this is a pass-through and there is never a direct path. */
  enabled: boolean;
  limits?: Partial<PathLimits>;
  /** A mux message, in order, once. */
  onMessage(m: Uint8Array): void;
  /** A signalling message from the peer (over the relayed path). */
  onSignal?(value: Record<string, unknown>): void;
  /** The primary path closed: the tunnel is over. */
  onClose(code: number, reason: string): void;
  /** The path this end sends on changed. */
  onPath?(kind: PathKind, reason: string): void;
}

interface Incoming {
  /** Count of the next mux message on this path; undefined until a direct path said resume. */
  next: number | undefined;
  held: { seq: number; m: Uint8Array }[];
  heldBytes: number;
}

export class PathSwitch {
  readonly #o: PathSwitchOptions;
  readonly #l: PathLimits;
  readonly #primary: PathChannel;
  #direct: PathChannel | undefined;
  /** Whether we send on the direct path (from attachDirect to the fallback). */
  #sendDirect = false;
  #nextSeq = 0;
  #expected = 0;
  #unacked: { seq: number; m: Uint8Array; at: number }[] = [];
  #unackedBytes = 0;
  readonly #in = new Map<PathChannel, Incoming>();
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #ackedUpTo = 0;
  /** Bytes delivered from the direct path since the last acknowledgement. */
  #unackedIn = 0;
  #tick: ReturnType<typeof setInterval> | undefined;
  #lastPrimarySend = Date.now();
  #closed = false;
  /** Counters for tests and stats. */
  readonly stats = { sentDirect: 0, sentRelayed: 0, resent: 0, duplicates: 0, fallbacks: 0 };

  constructor(o: PathSwitchOptions) {
    this.#o = o;
    this.#l = { ...DEFAULT_PATH_LIMITS, ...o.limits };
    this.#primary = o.primary;
    this.#in.set(o.primary, { next: 0, held: [], heldBytes: 0 });
    o.primary.onmessage = (m) => this.#receive(o.primary, m);
    o.primary.onclose = (code, reason) => this.#primaryClosed(code, reason);
  }

  get enabled(): boolean {
    return this.#o.enabled;
  }

  /** The path this end sends on. */
  get path(): PathKind {
    return this.#sendDirect ? 'direct' : 'relayed';
  }

  get unackedBytes(): number {
    return this.#unackedBytes;
  }

  /** Numbers for tests and troubleshooting. */
  describe(): Record<string, number | string> {
    const held = [...this.#in.values()].reduce((n, s) => n + s.held.length, 0);
    return { path: this.path, sent: this.#nextSeq, delivered: this.#expected, unacked: this.#unacked.length, held, direct: this.#direct ? 1 : 0, ...this.stats };
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** The mux's channel: one message, on the current path. */
  send(m: Uint8Array): void {
    if (this.#closed) return;
    const seq = this.#nextSeq++;
    if (this.#sendDirect && this.#direct) {
      this.#unacked.push({ seq, m, at: Date.now() });
      this.#unackedBytes += m.length;
      this.stats.sentDirect++;
      this.#direct.send(m);
      if (this.#unackedBytes > this.#l.maxUnackedBytes) this.fallBack(`more than ${this.#l.maxUnackedBytes} bytes sent directly were not acknowledged`);
      return;
    }
    this.stats.sentRelayed++;
    this.#sendPrimary(m);
  }

  /** Closes the tunnel: the direct path and the relayed one. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#dropDirect();
    this.#primary.close(code, reason);
    // The primary's close does not call back our handler when we close it ourselves (SecureChannel calls onclose itself).
  }

  sendSignal(value: Record<string, unknown>): void {
    if (this.#closed || !this.#o.enabled) return;
    const body = utf8.encode(JSON.stringify(value));
    if (body.length > this.#l.maxSignalBytes) throw new RangeError('signalling message too large');
    this.#sendPrimary(concat(new Uint8Array([PathOp.signal]), body));
  }

  /**
   * A direct path is ready (its own end-to-end handshake done): receive on it now, and send on it
   * from the next message on. Replaces any earlier direct path.
   */
  attachDirect(ch: PathChannel): void {
    if (this.#closed || !this.#o.enabled) {
      ch.close(1000, 'tunnel closed');
      return;
    }
    if (this.#direct && this.#direct !== ch) this.#dropDirect();
    this.#direct = ch;
    this.#in.set(ch, { next: undefined, held: [], heldBytes: 0 });
    ch.onmessage = (m) => this.#receive(ch, m);
    ch.onclose = (_code, reason) => {
      if (this.#direct === ch) this.fallBack(reason || 'the direct connection closed');
    };
    ch.send(concat(new Uint8Array([PathOp.resume]), u64(this.#nextSeq)));
    this.#sendDirect = true;
    // The peer may have spoken first (its resume, and what it sent right after): those frames
    // waited in the channel for a listener; left there, they would wait for the next frame.
    ch.flushEarly?.();
    this.#tick ??= setInterval(() => this.#check(), Math.max(50, Math.min(this.#l.stallMs, this.#l.keepaliveMs) / 4));
    this.#o.onPath?.('direct', 'direct connection open');
  }

  /**
   * Stops using the direct path (closed, failed, stalled, over a limit): what it carried and was not
   * acknowledged goes again over the relay, after a resume that tells the peer where it starts.
   */
  fallBack(reason: string): void {
    const ch = this.#direct;
    if (!ch || this.#closed) return;
    this.stats.fallbacks++;
    this.#dropDirect();
    const from = this.#unacked[0]?.seq ?? this.#nextSeq;
    this.#sendPrimary(concat(new Uint8Array([PathOp.resume]), u64(from)));
    for (const u of this.#unacked) {
      this.stats.resent++;
      this.#sendPrimary(u.m);
    }
    this.#unacked = [];
    this.#unackedBytes = 0;
    this.#o.onPath?.('relayed', reason);
  }

  #dropDirect(): void {
    const ch = this.#direct;
    this.#direct = undefined;
    this.#sendDirect = false;
    clearInterval(this.#tick);
    this.#tick = undefined;
    if (!ch) return;
    // Messages held from the direct path were never acknowledged: the peer sends them again over the relay.
    this.#in.delete(ch);
    ch.onmessage = null;
    ch.onclose = null;
    ch.close(1000, 'direct path dropped');
  }

  #sendPrimary(m: Uint8Array): void {
    this.#lastPrimarySend = Date.now();
    this.#primary.send(m);
  }

  #check(): void {
    if (!this.#sendDirect) return;
    const now = Date.now();
    const oldest = this.#unacked[0];
    if (oldest && now - oldest.at > this.#l.stallMs) {
      this.fallBack(`the direct connection stalled (nothing acknowledged for ${Math.round(this.#l.stallMs / 1000)} s)`);
      return;
    }
    if (now - this.#lastPrimarySend >= this.#l.keepaliveMs) this.#sendPrimary(new Uint8Array([PathOp.keepalive]));
  }

  #receive(from: PathChannel, m: Uint8Array): void {
    if (this.#closed) return;
    const st = this.#in.get(from);
    if (!st) return; // A direct path that was dropped.
    const op = m[0];
    if (!this.#o.enabled || op === undefined || op < 0x40) {
      if (!this.#o.enabled) return this.#o.onMessage(m);
      return this.#sequenced(from, st, m);
    }
    try {
      this.#control(from, st, op, m.subarray(1));
    } catch (err) {
      const e = err instanceof TunnelError ? err : new TunnelError('protocol', (err as Error).message);
      if (from === this.#primary) this.close(e.closeCode, e.message);
      else this.fallBack(e.message);
    }
  }

  #control(from: PathChannel, st: Incoming, op: number, body: Uint8Array): void {
    switch (op) {
      case PathOp.ack: {
        if (body.length !== 8) throw new TunnelError('protocol', 'Malformed path acknowledgement.');
        const n = readU64(body, 0);
        if (n > this.#nextSeq) throw new TunnelError('protocol', 'The peer acknowledged messages that were never sent.');
        while (this.#unacked.length && this.#unacked[0]!.seq < n) this.#unackedBytes -= this.#unacked.shift()!.m.length;
        return;
      }
      case PathOp.resume: {
        if (body.length !== 8) throw new TunnelError('protocol', 'Malformed path resume.');
        const start = readU64(body, 0);
        // Only a direct path may start ahead of what was delivered (it overtakes the relay, which
        // still brings the older messages). On the relay, everything before `from` came earlier on
        // the relay or was acknowledged, so it was delivered: a resume past it skips messages.
        if (from === this.#primary && start > this.#expected) throw new TunnelError('protocol', 'The relayed path resumed past a message that never arrived.');
        st.next = start;
        st.held = [];
        st.heldBytes = 0;
        return;
      }
      case PathOp.signal: {
        if (from !== this.#primary) throw new TunnelError('protocol', 'Signalling arrived on the direct path.');
        if (body.length > this.#l.maxSignalBytes) throw new TunnelError('protocol', 'A signalling message was too large.', TunnelClose.protocol);
        this.#o.onSignal?.(parseJson(body));
        return;
      }
      case PathOp.keepalive:
        return;
      default:
        throw new TunnelError('protocol', `Unknown path message type ${op}.`);
    }
  }

  #sequenced(from: PathChannel, st: Incoming, m: Uint8Array): void {
    if (st.next === undefined) {
      if (from === this.#primary) return this.close(TunnelClose.protocol, 'A tunnel message arrived on no path.');
      return this.fallBack('the direct path sent a message before saying where it starts');
    }
    const seq = st.next++;
    if (seq < this.#expected) {
      this.stats.duplicates++;
      return;
    }
    if (seq > this.#expected) {
      st.held.push({ seq, m });
      st.heldBytes += m.length;
      if (st.heldBytes > this.#l.maxHeldBytes) {
        if (from === this.#primary) return this.close(TunnelClose.protocol, 'The relayed path ran too far ahead of the direct one.');
        this.fallBack(`more than ${this.#l.maxHeldBytes} bytes arrived directly ahead of the relay`);
      }
      return;
    }
    this.#deliver(from, m);
    this.#drainHeld();
  }

  #deliver(from: PathChannel, m: Uint8Array): void {
    this.#expected++;
    if (from !== this.#primary) {
      this.#unackedIn += m.length;
      if (this.#unackedIn >= this.#l.maxUnackedBytes / 4) this.#sendAck();
      else this.#scheduleAck();
    }
    this.#o.onMessage(m);
  }

  #drainHeld(): void {
    for (let moved = true; moved && !this.#closed; ) {
      moved = false;
      for (const [ch, st] of this.#in) {
        while (st.held.length && st.held[0]!.seq <= this.#expected) {
          const h = st.held.shift()!;
          st.heldBytes -= h.m.length;
          if (h.seq < this.#expected) {
            this.stats.duplicates++;
            continue;
          }
          this.#deliver(ch, h.m);
          moved = true;
        }
      }
    }
  }

  /** Acknowledges what arrived directly: at once past a quarter of the limit, else after a short delay (coalesced). */
  #scheduleAck(): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      this.#sendAck();
    }, this.#l.ackDelayMs);
  }

  #sendAck(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#closed || this.#expected === this.#ackedUpTo) return;
    this.#ackedUpTo = this.#expected;
    this.#unackedIn = 0;
    const m = concat(new Uint8Array([PathOp.ack]), u64(this.#expected));
    // The ack goes on the path we send on; if that is the direct path and it is broken, the peer's stall timer covers it.
    if (this.#sendDirect && this.#direct) this.#direct.send(m);
    else this.#sendPrimary(m);
  }

  #primaryClosed(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#ackTimer);
    const d = this.#direct;
    this.#direct = undefined;
    this.#sendDirect = false;
    clearInterval(this.#tick);
    if (d) {
      d.onmessage = null;
      d.onclose = null;
      d.close(1000, 'tunnel closed');
    }
    this.#unacked = [];
    this.#in.clear();
    this.#o.onClose(code, reason);
  }
}

/**
 * One browser's tunnel through the relay: its WebSocket on one side, a tunnel id on its host's
 * socket on the other. The relay forwards frames it cannot read, counts what it has queued in each
 * direction, and closes the tunnel — never the host's socket — when a peer overruns the limit.
 */
import type { WebSocket } from 'ws';
import { TunnelClose } from '../tunnel/errors.ts';
import type { TunnelLink } from './host-link.ts';
import { WireOp, encodeClose, encodeWire, sendableCode } from './wire.ts';

export type Direction = 'toHost' | 'toBrowser';

export interface TunnelInfo {
  readonly hostId: string;
  readonly tunnelId: number;
}

/**
 * How a frame crosses the relay. The real relay delivers it unchanged; tests plug in a relay that
 * flips, replays, reorders or redirects frames, to prove the endpoints notice (test/relay/).
 */
export type ForwardHook = (frame: Buffer, direction: Direction, tunnel: TunnelInfo, deliver: (frame: Buffer) => void) => void;

export const forwardUnchanged: ForwardHook = (frame, _d, _t, deliver) => deliver(frame);

export interface TunnelCounters {
  queuedBytes: number;
  bytesToHost: number;
  bytesToBrowser: number;
  framesForwarded: number;
  closedOverQueue: number;
}

/** The browser's side of a tunnel: its WebSocket on this relay, or (Redis scale-out) the relay that has it. */
export interface BrowserEnd {
  readonly isOpen: boolean;
  /** Sends one end-to-end frame; `done` once it left this relay (or failed). */
  send(frame: Buffer, done: () => void): void;
  close(code: number, reason: string): void;
}

export function socketEnd(ws: WebSocket): BrowserEnd {
  return {
    get isOpen() {
      return ws.readyState <= 1;
    },
    send: (frame, done) => ws.send(frame, { binary: true }, done),
    close: (code, reason) => ws.close(code, reason),
  };
}

export class RelayTunnel implements TunnelInfo {
  readonly hostId: string;
  readonly tunnelId: number;
  readonly openedAt: number;
  lastActivity: number;
  /** Whether the host has sent anything on this tunnel (its handshake answer). */
  hostAnswered = false;
  readonly #browser: BrowserEnd;
  readonly #link: TunnelLink;
  readonly #maxQueued: number;
  readonly #forward: ForwardHook;
  readonly #counters: TunnelCounters;
  readonly #onClosed: (t: RelayTunnel) => void;
  #queued: Record<Direction, number> = { toHost: 0, toBrowser: 0 };
  #closed = false;

  constructor(o: { link: TunnelLink; tunnelId: number; browser: BrowserEnd; maxQueuedBytes: number; forward: ForwardHook; counters: TunnelCounters; now: number; onClosed(t: RelayTunnel): void }) {
    this.hostId = o.link.hostId;
    this.tunnelId = o.tunnelId;
    this.#browser = o.browser;
    this.#link = o.link;
    this.#maxQueued = o.maxQueuedBytes;
    this.#forward = o.forward;
    this.#counters = o.counters;
    this.#onClosed = o.onClosed;
    this.openedAt = o.now;
    this.lastActivity = o.now;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  queued(d: Direction): number {
    return this.#queued[d];
  }

  fromBrowser(frame: Buffer, now: number): void {
    if (this.#closed) return;
    this.lastActivity = now;
    this.#forward(frame, 'toHost', this, (f) => this.#send('toHost', encodeWire(WireOp.data, this.tunnelId, f), f.length));
  }

  fromHost(frame: Buffer, now: number): void {
    if (this.#closed) return;
    this.lastActivity = now;
    this.hostAnswered = true;
    this.#forward(frame, 'toBrowser', this, (f) => this.#send('toBrowser', f, f.length));
  }

  #send(d: Direction, wire: Buffer, bytes: number): void {
    if (this.#closed) return;
    if (this.#queued[d] + wire.length > this.#maxQueued) {
      this.#counters.closedOverQueue++;
      this.close(TunnelClose.queueFull, `The tunnel queued more than ${this.#maxQueued} bytes ${d === 'toHost' ? 'towards the host' : 'towards the browser'} (--relay-max-queued-bytes): a peer ignored its window.`, true);
      return;
    }
    this.#queued[d] += wire.length;
    this.#counters.queuedBytes += wire.length;
    this.#counters.framesForwarded++;
    if (d === 'toHost') this.#counters.bytesToHost += bytes;
    else this.#counters.bytesToBrowser += bytes;
    // The callback runs once the bytes are handed to the kernel (or the socket failed): only then do they stop counting.
    const done = () => {
      this.#queued[d] -= wire.length;
      this.#counters.queuedBytes -= wire.length;
    };
    if (d === 'toHost') this.#link.send(wire, done);
    else this.#browser.send(wire, done);
  }

  /**
   * Ends the tunnel: the browser socket is closed with `code` and `reason` (unless it closed itself),
   * and the host is told (unless it asked), with the same code so both ends log the same cause.
   */
  close(code: number, reason: string, tellHost: boolean, browserClosed = false): void {
    if (this.#closed) return;
    this.#closed = true;
    if (tellHost) this.#link.send(encodeClose(this.tunnelId, code, reason), () => {});
    if (!browserClosed && this.#browser.isOpen) this.#browser.close(sendableCode(code), trimReason(reason));
    this.#onClosed(this);
  }
}

export function trimReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

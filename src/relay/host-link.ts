/**
 * A host's WebSocket at the relay, after it proved its key: tunnel ids for its browsers, the
 * frames it sends them, and what happens to them when it goes away.
 */
import type { WebSocket } from 'ws';
import { TunnelClose } from '../tunnel/errors.ts';
import type { RelayTunnel } from './tunnel.ts';
import { WireOp, decodeClose, decodeWire, encodeWire } from './wire.ts';

/** What a tunnel needs of the way to its host: this relay's socket to it, or (Redis) the relay that has it. */
export interface TunnelLink {
  readonly hostId: string;
  readonly tunnels: Map<number, RelayTunnel>;
  readonly isClosed: boolean;
  allocateId(): number;
  add(t: RelayTunnel): void;
  /** The tunnel closed: forget it. */
  remove(t: RelayTunnel): void;
  send(wire: Buffer, done: (err?: Error) => void): void;
}

export class HostLink implements TunnelLink {
  readonly hostId: string;
  readonly socket: WebSocket;
  readonly tunnels = new Map<number, RelayTunnel>();
  #nextId = 1;
  #closed = false;

  constructor(hostId: string, socket: WebSocket) {
    this.hostId = hostId;
    this.socket = socket;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** A tunnel id not in use on this link (ids wrap after 2^32 tunnels). */
  allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
      if (!this.tunnels.has(id)) return id;
    }
  }

  add(t: RelayTunnel): void {
    this.tunnels.set(t.tunnelId, t);
    this.send(encodeWire(WireOp.open, t.tunnelId), () => {});
  }

  remove(t: RelayTunnel): void {
    if (this.tunnels.get(t.tunnelId) === t) this.tunnels.delete(t.tunnelId);
  }

  send(wire: Buffer, done: (err?: Error) => void): void {
    if (this.#closed || this.socket.readyState !== 1) {
      done();
      return;
    }
    this.socket.send(wire, { binary: true }, done);
  }

  /** A binary message from the host. Returns false when it is malformed (the caller closes the link). */
  receive(data: Buffer, now: number): boolean {
    const m = decodeWire(data);
    if (!m || m.op === WireOp.open) return false;
    const t = this.tunnels.get(m.tunnel);
    if (!t) return true; // A tunnel that just closed: its last frames are dropped.
    if (m.op === WireOp.data) t.fromHost(m.payload, now);
    else {
      const { code, reason } = decodeClose(m.payload);
      t.close(code, reason, false);
    }
    return true;
  }

  /** The host socket is gone or replaced: every tunnel ends with `code`. */
  close(code: number = TunnelClose.hostGone, reason = 'Your host disconnected from the relay.'): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of [...this.tunnels.values()]) t.close(code, reason, false);
    this.tunnels.clear();
  }
}

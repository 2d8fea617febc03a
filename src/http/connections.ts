/**
 * Who holds Keel's TCP connections (`maxHttpConnections`), and room kept for those with the token.
 *
 * Every connection takes a slot of `maxHttpConnections` when it is accepted and counts as
 * unauthenticated until a request on it carries valid credentials (token or cookie) or its
 * WebSocket handshake succeeds (the route checked its credentials, share links included). At most
 * `maxUnauthenticatedConnections` unauthenticated connections exist at once: a new connection past
 * that share, or past `maxHttpConnections`, closes the least recently active unauthenticated one
 * (one with no request in progress first). So strangers — idle sockets, slowloris tricklers,
 * keep-alive /healthz holders, refused upgrades — can never hold the slots of signed-in users, and a
 * signed-in user's new connection always gets in while any stranger holds a slot. Node's headers,
 * request and keep-alive timeouts (server.ts) cut idle strangers within the share as well.
 *
 * Only when every slot is held by authenticated connections is a new one refused: its first
 * request gets 503 {"error":"too_many_connections"} with `Connection: close`.
 */
import type { Socket } from 'node:net';
import type { Slot, SlotLimiter } from '../core/slot-limiter.ts';

interface Stranger {
  slot: Slot;
  /** Requests on the connection whose response has not finished. */
  busy: number;
}

/** A refused socket that sends no request within this time is destroyed. */
export const REFUSED_SOCKET_TIMEOUT_MS = 5_000;

export class ConnectionGate {
  readonly #limiter: SlotLimiter;
  readonly #maxUnauthenticated: number;
  /** Unauthenticated connections, least recently active first (a Map keeps insertion order). */
  readonly #strangers = new Map<Socket, Stranger>();
  /** Refused sockets (over the cap): answered 503 and closed. WeakSet: nothing to release. */
  readonly #refused = new WeakSet<Socket>();
  #evicted = 0;

  constructor(limiter: SlotLimiter, maxUnauthenticated: number) {
    this.#limiter = limiter;
    this.#maxUnauthenticated = Math.max(1, Math.min(maxUnauthenticated, limiter.max));
  }

  get maxUnauthenticated(): number {
    return this.#maxUnauthenticated;
  }

  /** For the server's 'connection' event. */
  readonly onConnection = (socket: Socket): void => {
    if (this.#strangers.size >= this.#maxUnauthenticated || this.#limiter.inUse >= this.#limiter.max) this.#evictOne();
    const slot = this.#limiter.tryAcquire();
    if (!slot) {
      this.#refused.add(socket);
      socket.setTimeout(REFUSED_SOCKET_TIMEOUT_MS, () => socket.destroy());
      return;
    }
    this.#strangers.set(socket, { slot, busy: 0 });
    socket.once('close', () => {
      slot.dispose();
      this.#strangers.delete(socket);
    });
  };

  isRefused(socket: Socket): boolean {
    return this.#refused.has(socket);
  }

  /** The connection presented valid credentials: it leaves the unauthenticated share for good. */
  authenticate(socket: Socket): void {
    this.#strangers.delete(socket);
  }

  /** A request started on the connection: it becomes the most recently active. */
  requestStarted(socket: Socket): void {
    const s = this.#strangers.get(socket);
    if (!s) return;
    s.busy++;
    this.#strangers.delete(socket);
    this.#strangers.set(socket, s);
  }

  requestEnded(socket: Socket): void {
    const s = this.#strangers.get(socket);
    if (s && s.busy > 0) s.busy--;
  }

  /**
   * Closes the least recently active unauthenticated connection, preferring one with no request in
   * progress. Its slot is released now, not at 'close' (a tick later), so the caller can take it.
   */
  #evictOne(): void {
    let victim: [Socket, Stranger] | undefined;
    for (const e of this.#strangers) {
      if (e[1].busy === 0) {
        victim = e;
        break;
      }
      victim ??= e;
    }
    if (!victim) return;
    const [socket, s] = victim;
    this.#strangers.delete(socket);
    s.slot.dispose();
    this.#evicted++;
    socket.destroy();
  }

  stats(): { unauthenticated_connections: number; max_unauthenticated_connections: number; unauthenticated_evicted: number } {
    return { unauthenticated_connections: this.#strangers.size, max_unauthenticated_connections: this.#maxUnauthenticated, unauthenticated_evicted: this.#evicted };
  }
}

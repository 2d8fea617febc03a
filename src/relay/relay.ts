/**
 * The relay's routing core, independent of HTTP: hosts register with a signed challenge, browsers
 * open tunnels to a host id, frames are forwarded opaque. Every structure is bounded by an option
 * (hosts, tunnels, tunnels per host, queued bytes per tunnel, frame size) and by time (handshake,
 * idle, ping). One sweep timer and one ping timer serve every socket.
 *
 * `HostRouter` holds this relay's own hosts. With Redis (`RedisMesh`, mesh.ts) a host that is not
 * here is looked up in the shared registry and reached through the relay that has it; browsers on
 * other relays reach this relay's hosts through `openRemoteTunnel` (docs/relay.md, scale-out).
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { KeelOptions } from '../config/options.ts';
import type { Clock } from '../core/clock.ts';
import { SlotLimiter, type Slot } from '../core/slot-limiter.ts';
import { TunnelClose } from '../tunnel/errors.ts';
import { HostLink, type TunnelLink } from './host-link.ts';
import { HOST_ID_PATTERN, hostIdOf, verifyRegistration } from './identity.ts';
import type { RedisMesh } from './mesh.ts';
import { RelayTunnel, forwardUnchanged, socketEnd, trimReason, type BrowserEnd, type ForwardHook, type TunnelCounters } from './tunnel.ts';
import type { Challenge, Register } from './wire.ts';

/** This relay's hosts, by id. */
export interface HostRouter {
  get(hostId: string): HostLink | undefined;
  set(hostId: string, link: HostLink): void;
  delete(hostId: string, link: HostLink): void;
  readonly size: number;
}

export class LocalRouter implements HostRouter {
  readonly #hosts = new Map<string, HostLink>();
  get(hostId: string) {
    return this.#hosts.get(hostId);
  }
  set(hostId: string, link: HostLink) {
    this.#hosts.set(hostId, link);
  }
  delete(hostId: string, link: HostLink) {
    if (this.#hosts.get(hostId) === link) this.#hosts.delete(hostId);
  }
  get size() {
    return this.#hosts.size;
  }
}

export interface RelayDeps {
  clock: Clock;
  log: Logger;
  forward?: ForwardHook;
  /** Tests: route a browser asking for one host to another (a redirecting relay). */
  resolveHost?: (hostId: string) => string;
  router?: HostRouter;
  /** Refuses new sockets while the health monitor sheds load (throws a KeelError). */
  admit?: () => void;
  /** Several relays sharing Redis; undefined: a single relay. */
  mesh?: RedisMesh;
}

type RelayOptions = Pick<
  KeelOptions,
  'relayMaxHosts' | 'relayMaxTunnels' | 'relayMaxTunnelsPerHost' | 'relayMaxQueuedBytes' | 'relayMaxFrameBytes' | 'relayHandshakeTimeoutMs' | 'relayIdleTimeoutMs' | 'relayPingMs'
>;

interface PendingHost {
  socket: WebSocket;
  since: number;
  slot: Slot;
}

export class Relay {
  readonly counters: TunnelCounters & { refusedHosts: number; refusedTunnels: number; registrations: number; timeouts: number } = {
    queuedBytes: 0,
    bytesToHost: 0,
    bytesToBrowser: 0,
    framesForwarded: 0,
    closedOverQueue: 0,
    refusedHosts: 0,
    refusedTunnels: 0,
    registrations: 0,
    timeouts: 0,
  };
  readonly hostSlots: SlotLimiter;
  readonly tunnelSlots: SlotLimiter;
  readonly #o: RelayOptions;
  readonly #d: RelayDeps;
  readonly #router: HostRouter;
  readonly #forward: ForwardHook;
  readonly #pending = new Set<PendingHost>();
  readonly #tunnels = new Set<RelayTunnel>();
  readonly #alive = new WeakSet<WebSocket>();
  readonly #sockets = new Set<WebSocket>();
  readonly #sweep: NodeJS.Timeout;
  readonly #ping: NodeJS.Timeout;
  /** Called after a host registered (a shared registry publishes it here; tests watch it). */
  onRegistered: ((hostId: string) => void) | undefined;

  constructor(o: RelayOptions, d: RelayDeps) {
    this.#o = o;
    this.#d = d;
    this.#router = d.router ?? new LocalRouter();
    this.#forward = d.forward ?? forwardUnchanged;
    this.hostSlots = new SlotLimiter('relay_hosts', o.relayMaxHosts, { option: '--relay-max-hosts', admit: d.admit });
    this.tunnelSlots = new SlotLimiter('relay_tunnels', o.relayMaxTunnels, { option: '--relay-max-tunnels', admit: d.admit });
    const every = Math.max(100, Math.min(1_000, Math.floor(Math.min(o.relayHandshakeTimeoutMs, o.relayIdleTimeoutMs) / 4)));
    this.#sweep = setInterval(() => this.#sweepTimeouts(), every);
    this.#sweep.unref();
    this.#ping = setInterval(() => this.#pingAll(), o.relayPingMs);
    this.#ping.unref();
  }

  get hostCount(): number {
    return this.#router.size;
  }
  get tunnelCount(): number {
    return this.#tunnels.size;
  }
  get pendingHosts(): number {
    return this.#pending.size;
  }

  /** The window endpoints are told: half the queue limit, the rest is room for control messages. */
  get windowBytes(): number {
    return Math.floor(this.#o.relayMaxQueuedBytes / 2);
  }

  #track(socket: WebSocket): void {
    this.#sockets.add(socket);
    this.#alive.add(socket);
    socket.on('pong', () => this.#alive.add(socket));
    socket.once('close', () => this.#sockets.delete(socket));
  }

  /** A host socket: challenge, then registration, then tunnels. */
  acceptHost(socket: WebSocket): void {
    let slot: Slot;
    try {
      slot = this.hostSlots.acquire();
    } catch (err) {
      this.counters.refusedHosts++;
      socket.close(1013, trimReason((err as Error).message));
      return;
    }
    this.#track(socket);
    const nonce = crypto.randomBytes(32);
    const pending: PendingHost = { socket, since: this.#d.clock.now(), slot };
    this.#pending.add(pending);
    let link: HostLink | undefined;
    const challenge: Challenge = {
      type: 'challenge',
      v: 1,
      nonce: nonce.toString('base64url'),
      windowBytes: this.windowBytes,
      maxFrameBytes: this.#o.relayMaxFrameBytes,
      handshakeTimeoutMs: this.#o.relayHandshakeTimeoutMs,
    };
    socket.send(JSON.stringify(challenge));
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (link) {
        if (!isBinary || !link.receive(data, this.#d.clock.now())) socket.close(TunnelClose.badRequest, 'Malformed relay message.');
        return;
      }
      if (isBinary) return void socket.close(TunnelClose.registrationFailed, 'Register first.');
      const hostId = this.#verify(data, nonce);
      if (!hostId) {
        this.counters.refusedHosts++;
        socket.close(TunnelClose.registrationFailed, 'The host did not prove possession of its key.');
        return;
      }
      this.#pending.delete(pending);
      this.replaceHost(hostId, 'Your host reconnected to the relay.');
      link = new HostLink(hostId, socket);
      this.#router.set(hostId, link);
      this.counters.registrations++;
      socket.send(JSON.stringify({ type: 'registered', hostId }));
      this.#d.log.info({ hostId }, 'relay: host registered');
      this.#d.mesh?.registered(hostId);
      this.onRegistered?.(hostId);
    });
    socket.once('close', () => {
      this.#pending.delete(pending);
      slot.dispose();
      if (link) {
        link.close();
        this.#router.delete(link.hostId, link);
        if (!this.#router.get(link.hostId)) this.#d.mesh?.unregistered(link.hostId);
        this.#d.log.info({ hostId: link.hostId }, 'relay: host left');
      }
    });
  }

  /**
   * Drops this relay's socket to a host that registered again (here, or on another relay of the
   * mesh): only the key's holder could register it, so the old socket is a dead connection.
   */
  replaceHost(hostId: string, reason: string): void {
    const old = this.#router.get(hostId);
    if (!old) return;
    old.close(TunnelClose.hostGone, reason);
    old.socket.close(TunnelClose.replaced, 'Replaced by a newer connection of the same host.');
    this.#router.delete(hostId, old);
  }

  #verify(data: Buffer, nonce: Buffer): string | undefined {
    let r: Register;
    try {
      r = JSON.parse(data.toString('utf8')) as Register;
    } catch {
      return undefined;
    }
    if (r?.type !== 'register' || typeof r.publicKey !== 'string' || typeof r.signature !== 'string') return undefined;
    const pub = Buffer.from(r.publicKey, 'base64url');
    if (!verifyRegistration(pub, nonce, Buffer.from(r.signature, 'base64url'))) return undefined;
    return hostIdOf(pub);
  }

  /** A browser socket for `hostIdParam`: the host is here, or (with Redis) on another relay. */
  acceptBrowser(socket: WebSocket, hostIdParam: string): void {
    if (!HOST_ID_PATTERN.test(hostIdParam)) return void socket.close(TunnelClose.badRequest, 'Malformed host id in the address.');
    const hostId = this.#d.resolveHost?.(hostIdParam) ?? hostIdParam;
    const local = this.#router.get(hostId);
    if ((local && !local.isClosed) || !this.#d.mesh) return this.#attachBrowser(socket, local, false);
    // Pinged while the registry answers, like any socket this relay holds.
    this.#track(socket);
    this.#d.mesh.resolve(hostId).then(
      (link) => {
        if (socket.readyState === 1) this.#attachBrowser(socket, link, true);
      },
      (err: Error) => {
        this.#d.log.warn({ err: err.message }, 'relay: redis lookup failed');
        if (socket.readyState === 1) socket.close(TunnelClose.hostNotConnected, 'Your host is not reachable from this relay right now (its registry is unavailable).');
      },
    );
  }

  #attachBrowser(socket: WebSocket, link: TunnelLink | undefined, tracked: boolean): void {
    if (!link || link.isClosed) {
      this.counters.refusedTunnels++;
      return void socket.close(TunnelClose.hostNotConnected, 'Your host is not connected to this relay.');
    }
    const opened = this.#openTunnel(link, socketEnd(socket));
    if (!('tunnel' in opened)) return void socket.close(opened.code, opened.reason);
    const tunnel = opened.tunnel;
    if (!tracked) this.#track(socket);
    socket.send(JSON.stringify({ relay: 1, windowBytes: this.windowBytes, maxFrameBytes: this.#o.relayMaxFrameBytes }));
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return void tunnel.close(1003, 'The tunnel carries binary frames only.', true);
      tunnel.fromBrowser(data, this.#d.clock.now());
    });
    socket.once('close', (code: number, reason: Buffer) => tunnel.close(code === 1005 || code === 1006 ? 1000 : code, reason.toString('utf8'), true, true));
  }

  /** A tunnel to one of this relay's hosts for a browser on another relay (the mesh calls it). */
  openRemoteTunnel(hostId: string, end: BrowserEnd): RelayTunnel | { code: number; reason: string } {
    const link = this.#router.get(hostId);
    if (!link || link.isClosed) {
      this.counters.refusedTunnels++;
      return { code: TunnelClose.hostNotConnected, reason: 'Your host is not connected to its relay any more.' };
    }
    const opened = this.#openTunnel(link, end);
    return 'tunnel' in opened ? opened.tunnel : opened;
  }

  /** Limits, a slot, the tunnel, and its registration on its link: the same for every kind of browser and host end. */
  #openTunnel(link: TunnelLink, end: BrowserEnd): { tunnel: RelayTunnel } | { code: number; reason: string } {
    if (link.tunnels.size >= this.#o.relayMaxTunnelsPerHost) {
      this.counters.refusedTunnels++;
      return { code: 1013, reason: trimReason(`Too many connections to this host (${this.#o.relayMaxTunnelsPerHost}, --relay-max-tunnels-per-host). Try again later.`) };
    }
    let slot: Slot;
    try {
      slot = this.tunnelSlots.acquire();
    } catch (err) {
      this.counters.refusedTunnels++;
      return { code: 1013, reason: trimReason((err as Error).message) };
    }
    const tunnel = new RelayTunnel({
      link,
      tunnelId: link.allocateId(),
      browser: end,
      maxQueuedBytes: this.#o.relayMaxQueuedBytes,
      forward: this.#forward,
      counters: this.counters,
      now: this.#d.clock.now(),
      onClosed: (t) => {
        this.#tunnels.delete(t);
        link.remove(t);
        slot.dispose();
      },
    });
    this.#tunnels.add(tunnel);
    link.add(tunnel);
    return { tunnel };
  }

  #sweepTimeouts(): void {
    const now = this.#d.clock.now();
    for (const p of [...this.#pending]) {
      if (now - p.since > this.#o.relayHandshakeTimeoutMs) {
        this.counters.timeouts++;
        this.#pending.delete(p);
        p.socket.close(TunnelClose.timeout, 'The host did not register in time.');
      }
    }
    for (const t of [...this.#tunnels]) {
      if (!t.hostAnswered && now - t.openedAt > this.#o.relayHandshakeTimeoutMs) {
        this.counters.timeouts++;
        t.close(TunnelClose.timeout, 'Your host did not answer in time.', true);
      } else if (now - t.lastActivity > this.#o.relayIdleTimeoutMs) {
        this.counters.timeouts++;
        t.close(TunnelClose.timeout, 'The tunnel was idle too long.', true);
      }
    }
  }

  #pingAll(): void {
    for (const s of this.#sockets) {
      if (!this.#alive.has(s)) {
        s.terminate();
        continue;
      }
      this.#alive.delete(s);
      s.ping();
    }
  }

  /** Stats for /debug/memory and /metrics. */
  stats(): Record<string, number> {
    return {
      hosts: this.hostCount,
      pending_hosts: this.pendingHosts,
      tunnels: this.tunnelCount,
      ...Object.fromEntries(Object.entries(this.counters).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()), v])),
      ...this.#d.mesh?.stats(),
    };
  }

  /** The mesh's view of this relay. */
  meshHooks() {
    return {
      local: (hostId: string) => this.#router.get(hostId),
      openTunnel: (hostId: string, end: BrowserEnd) => this.openRemoteTunnel(hostId, end),
      replaced: (hostId: string) => this.replaceHost(hostId, 'Your host connected to another relay.'),
      now: () => this.#d.clock.now(),
    };
  }

  dispose(): void {
    clearInterval(this.#sweep);
    clearInterval(this.#ping);
  }
}

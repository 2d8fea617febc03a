/**
 * Several relays as one, through Redis (ioredis): any relay reaches a host connected to any other.
 *
 * - Registrations are keys `keel:relay:host:<hostId>` → the relay instance that has the host, with
 *   a TTL (--relay-redis-ttl-ms) refreshed every third of it. A relay that dies stops refreshing:
 *   its hosts' keys expire, and the hosts, which reconnect to another relay, register there.
 * - Tunnel traffic crosses on pub/sub: each relay subscribes to `keel:relay:to:<instance>`. A
 *   browser on relay B for a host on relay A gets a tunnel on B whose link publishes the tunnel's
 *   wire messages to A; A runs the same tunnel logic with a "browser end" that publishes back to B.
 *   Frames are opaque end-to-end frames, so which relays carry them changes nothing about what
 *   any relay can read; pub/sub is ordered per connection, and a lost frame is caught by the
 *   end-to-end counters like any drop.
 * - `keel:relay:registered` announces each registration: the relay that had the host before drops
 *   its stale socket, and relays with tunnels to the old place close them (the pages reconnect).
 * - A PUBLISH that no relay receives means the target relay is gone: its tunnels close at once
 *   (4502) instead of waiting for a timeout, and its stale registration is deleted.
 *
 * Bounded: bytes handed to Redis and not yet acknowledged (--relay-redis-max-queued-bytes, the
 * tunnel that would pass it closes with 4429), each tunnel's own queue limit as on a single relay,
 * frame sizes checked on the way in, remote links and tunnels counted against the same limits.
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TunnelClose } from '../tunnel/errors.ts';
import type { HostLink, TunnelLink } from './host-link.ts';
import type { BrowserEnd, RelayTunnel } from './tunnel.ts';
import { WireOp, decodeClose, decodeWire, encodeClose, encodeWire } from './wire.ts';

const PREFIX = 'keel:relay:';
const hostKey = (hostId: string) => `${PREFIX}host:${hostId}`;
const relayChannel = (instance: string) => `${PREFIX}to:${instance}`;
const REGISTERED = `${PREFIX}registered`;
const INSTANCE_BYTES = 22;
/** Pub/sub message kinds: towards the relay that has the host, towards the relay that has the browser. */
const Kind = { toHost: 1, toBrowser: 2 } as const;
/** Deletes a registration only if it still names this relay (a host that moved keeps its new key). */
const DELETE_IF_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** What the mesh needs from the relay it serves. */
export interface MeshHooks {
  /** A host connected to this relay. */
  local(hostId: string): HostLink | undefined;
  /** A tunnel to a local host for a browser on another relay, or why not. */
  openTunnel(hostId: string, end: BrowserEnd): RelayTunnel | { code: number; reason: string };
  /** Another relay registered this host: drop our (stale) socket to it. */
  replaced(hostId: string): void;
  now(): number;
}

export interface MeshOptions {
  url: string;
  ttlMs: number;
  maxQueuedBytes: number;
  maxFrameBytes: number;
  log: Logger;
  /** How long to wait for Redis at start. */
  connectTimeoutMs?: number;
}

export class RedisMesh {
  readonly instance = crypto.randomBytes(16).toString('base64url');
  readonly counters = { published: 0, publishedBytes: 0, received: 0, droppedFrames: 0, overQueue: 0, deadRelays: 0, errors: 0 };
  readonly #o: MeshOptions;
  readonly #pub: Redis;
  readonly #sub: Redis;
  #hooks!: MeshHooks;
  readonly #local = new Set<string>();
  readonly #remoteLinks = new Map<string, RemoteHostLink>();
  /** Tunnels on this relay whose host is on another one, by tunnel id (unique on this relay). */
  readonly remoteTunnels = new Map<number, RelayTunnel>();
  #nextId = 1;
  /** Tunnels on this relay for browsers on other relays, by `<instance>:<their tunnel id>`. */
  readonly #proxies = new Map<string, RelayTunnel>();
  #queued = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: MeshOptions) {
    this.#o = o;
    const common = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: o.connectTimeoutMs ?? 10_000, lazyConnect: true };
    this.#pub = new Redis(o.url, { ...common, connectionName: `keel-relay-${this.instance}` });
    this.#sub = new Redis(o.url, { ...common, connectionName: `keel-relay-sub-${this.instance}` });
    for (const r of [this.#pub, this.#sub]) {
      // ioredis reconnects by itself; an outage is logged, not thrown.
      r.on('error', (err: Error) => {
        this.counters.errors++;
        o.log.warn({ err: err.message }, 'relay: redis error');
      });
    }
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel.toString(), message));
  }

  /** Connects both connections and subscribes; throws when Redis cannot be reached. */
  async start(hooks: MeshHooks): Promise<void> {
    this.#hooks = hooks;
    await Promise.all([this.#pub.connect(), this.#sub.connect()]);
    await this.#sub.subscribe(relayChannel(this.instance), REGISTERED);
    const every = Math.max(300, Math.floor(this.#o.ttlMs / 3));
    this.#timer = setInterval(() => void this.#refresh(), every);
    this.#timer.unref();
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  stats(): Record<string, number> {
    return {
      redis_connected: this.#pub.status === 'ready' && this.#sub.status === 'ready' ? 1 : 0,
      redis_local_hosts: this.#local.size,
      redis_remote_links: this.#remoteLinks.size,
      redis_remote_tunnels: this.remoteTunnels.size,
      redis_proxied_tunnels: this.#proxies.size,
      redis_queued_bytes: this.#queued,
      ...Object.fromEntries(Object.entries(this.counters).map(([k, v]) => ['redis_' + k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()), v])),
    };
  }

  /** A host registered on this relay: claim it in Redis and tell the others. */
  registered(hostId: string): void {
    this.#local.add(hostId);
    // A link to the host's old place is stale now.
    this.#remoteLinks.get(hostId)?.close(TunnelClose.hostGone, 'Your host reconnected to another relay.');
    this.#pub
      .multi()
      .set(hostKey(hostId), this.instance, 'PX', this.#o.ttlMs)
      .publish(REGISTERED, `${this.instance} ${hostId}`)
      .exec()
      .catch((err: Error) => this.#o.log.warn({ err: err.message, hostId }, 'relay: could not register the host in redis'));
  }

  unregistered(hostId: string): void {
    this.#local.delete(hostId);
    this.#pub.eval(DELETE_IF_MINE, 1, hostKey(hostId), this.instance).catch(() => {
      // Redis is away: the key expires by itself.
    });
  }

  /** A link to a host on another relay, or undefined when no relay has it (or it is ours but gone). */
  async resolve(hostId: string): Promise<TunnelLink | undefined> {
    const owner = await this.#pub.get(hostKey(hostId));
    if (!owner || owner.length !== INSTANCE_BYTES) return undefined;
    if (owner === this.instance) return this.#hooks.local(hostId);
    const known = this.#remoteLinks.get(hostId);
    if (known && !known.isClosed && known.instance === owner) return known;
    known?.close(TunnelClose.hostGone, 'Your host moved to another relay.');
    const link = new RemoteHostLink(this, hostId, owner);
    this.#remoteLinks.set(hostId, link);
    return link;
  }

  allocateRemoteId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
      if (!this.remoteTunnels.has(id)) return id;
    }
  }

  forgetLink(link: RemoteHostLink): void {
    if (this.#remoteLinks.get(link.hostId) === link) this.#remoteLinks.delete(link.hostId);
  }

  /** Messages towards the relay that has the host. */
  toHost(instance: string, wire: Buffer, done: () => void, onGone: () => void): boolean {
    return this.#publish(instance, Buffer.concat([Buffer.from([Kind.toHost]), Buffer.from(this.instance), wire]), done, onGone);
  }

  /** Messages towards the relay that has the browser. */
  toBrowser(instance: string, wire: Buffer, done: () => void, onGone: () => void): boolean {
    return this.#publish(instance, Buffer.concat([Buffer.from([Kind.toBrowser]), wire]), done, onGone);
  }

  /** False when the queue to Redis is full (the caller closes its tunnel with 4429). */
  #publish(instance: string, message: Buffer, done: () => void, onGone: () => void): boolean {
    if (this.#closed) {
      done();
      return true;
    }
    if (this.#queued + message.length > this.#o.maxQueuedBytes) {
      this.counters.overQueue++;
      done();
      return false;
    }
    this.#queued += message.length;
    this.counters.published++;
    this.counters.publishedBytes += message.length;
    this.#pub.publish(relayChannel(instance), message).then(
      (receivers) => {
        this.#queued -= message.length;
        done();
        if (receivers === 0) {
          this.counters.deadRelays++;
          onGone();
        }
      },
      () => {
        this.#queued -= message.length;
        done();
        onGone();
      },
    );
    return true;
  }

  /** A relay did not receive what we published: it is gone; its registrations go too. */
  relayGone(instance: string, hostId: string): void {
    this.#pub.eval(DELETE_IF_MINE, 1, hostKey(hostId), instance).catch(() => {});
  }

  #onMessage(channel: string, message: Buffer): void {
    if (this.#closed) return;
    this.counters.received++;
    if (channel === REGISTERED) {
      const [instance, hostId] = message.toString('utf8').split(' ');
      if (!instance || !hostId || instance === this.instance) return;
      if (this.#local.has(hostId)) this.#hooks.replaced(hostId);
      const link = this.#remoteLinks.get(hostId);
      if (link && link.instance !== instance) link.close(TunnelClose.hostGone, 'Your host reconnected to another relay.');
      return;
    }
    if (message.length > this.#o.maxFrameBytes + 64 || message.length < 1) {
      this.counters.droppedFrames++;
      return;
    }
    if (message[0] === Kind.toHost) this.#fromBrowserRelay(message);
    else if (message[0] === Kind.toBrowser) this.#fromHostRelay(message.subarray(1));
    else this.counters.droppedFrames++;
  }

  /** On the host's relay: a browser on another relay opens, sends on or closes its tunnel. */
  #fromBrowserRelay(message: Buffer): void {
    if (message.length < 1 + INSTANCE_BYTES) return void this.counters.droppedFrames++;
    const from = message.subarray(1, 1 + INSTANCE_BYTES).toString('latin1');
    const m = decodeWire(message.subarray(1 + INSTANCE_BYTES));
    if (!m) return void this.counters.droppedFrames++;
    const key = `${from}:${m.tunnel}`;
    if (m.op === WireOp.open) {
      if (this.#proxies.has(key)) return;
      const end = new RemoteBrowserEnd(this, from, m.tunnel, () => this.#proxies.delete(key));
      const t = this.#hooks.openTunnel(m.payload.toString('utf8'), end);
      if ('code' in t) {
        this.toBrowser(from, encodeClose(m.tunnel, t.code, t.reason), () => {}, () => {});
        return;
      }
      end.tunnel = t;
      this.#proxies.set(key, t);
      return;
    }
    const t = this.#proxies.get(key);
    if (!t) return; // A tunnel that just closed.
    if (m.op === WireOp.data) t.fromBrowser(m.payload, this.#hooks.now());
    else {
      this.#proxies.delete(key);
      const { code, reason } = decodeClose(m.payload);
      t.close(code, reason, true, true);
    }
  }

  /** On the browser's relay: the host's relay sends on or closes a tunnel. */
  #fromHostRelay(wire: Buffer): void {
    const m = decodeWire(wire);
    if (!m || m.op === WireOp.open) return void this.counters.droppedFrames++;
    const t = this.remoteTunnels.get(m.tunnel);
    if (!t) return;
    if (m.op === WireOp.data) t.fromHost(m.payload, this.#hooks.now());
    else {
      const { code, reason } = decodeClose(m.payload);
      t.close(code, reason, false);
    }
  }

  /** Every third of the TTL: refresh our registrations; check that remote hosts are still where we think. */
  async #refresh(): Promise<void> {
    if (this.#closed || this.#pub.status !== 'ready') return;
    try {
      const p = this.#pub.pipeline();
      for (const id of this.#local) p.set(hostKey(id), this.instance, 'PX', this.#o.ttlMs);
      const links = [...this.#remoteLinks.values()];
      for (const l of links) p.get(hostKey(l.hostId));
      const res = (await p.exec()) ?? [];
      const owners = res.slice(this.#local.size).map(([, v]) => v);
      links.forEach((l, i) => {
        if (owners[i] !== l.instance) l.close(TunnelClose.hostGone, 'Your host left its relay.');
        // A link whose browser left before its tunnel opened.
        else if (l.tunnels.size === 0) this.forgetLink(l);
      });
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'relay: redis refresh failed');
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    for (const l of [...this.#remoteLinks.values()]) l.close(1001, 'The relay is shutting down.');
    for (const id of this.#local) await this.#pub.eval(DELETE_IF_MINE, 1, hostKey(id), this.instance).catch(() => {});
    this.#closed = true;
    this.#pub.disconnect();
    this.#sub.disconnect();
  }
}

/** On the browser's relay: the way to a host on another relay. */
export class RemoteHostLink implements TunnelLink {
  readonly hostId: string;
  readonly instance: string;
  readonly tunnels = new Map<number, RelayTunnel>();
  readonly #mesh: RedisMesh;
  #closed = false;

  constructor(mesh: RedisMesh, hostId: string, instance: string) {
    this.#mesh = mesh;
    this.hostId = hostId;
    this.instance = instance;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  allocateId(): number {
    return this.#mesh.allocateRemoteId();
  }

  add(t: RelayTunnel): void {
    this.tunnels.set(t.tunnelId, t);
    this.#mesh.remoteTunnels.set(t.tunnelId, t);
    this.send(encodeWire(WireOp.open, t.tunnelId, Buffer.from(this.hostId)), () => {});
  }

  remove(t: RelayTunnel): void {
    this.tunnels.delete(t.tunnelId);
    if (this.#mesh.remoteTunnels.get(t.tunnelId) === t) this.#mesh.remoteTunnels.delete(t.tunnelId);
    if (this.tunnels.size === 0) {
      this.#closed = true;
      this.#mesh.forgetLink(this);
    }
  }

  send(wire: Buffer, done: (err?: Error) => void): void {
    if (this.#closed) return void done();
    const ok = this.#mesh.toHost(this.instance, wire, done, () => {
      // Nobody listens on that relay's channel: it died. Its registration goes, the pages reconnect.
      this.#mesh.relayGone(this.instance, this.hostId);
      this.close(TunnelClose.hostGone, "Your host's relay went away; reconnecting.");
    });
    if (!ok) {
      const id = wire.readUInt32BE(1);
      this.tunnels.get(id)?.close(TunnelClose.queueFull, 'The relay has too much queued towards other relays (--relay-redis-max-queued-bytes).', false);
    }
  }

  close(code: number, reason: string): void {
    if (this.#closed && this.tunnels.size === 0) return;
    this.#closed = true;
    for (const t of [...this.tunnels.values()]) t.close(code, reason, true);
    this.#mesh.forgetLink(this);
  }
}

/** On the host's relay: the browser side of a tunnel whose browser is on another relay. */
class RemoteBrowserEnd implements BrowserEnd {
  tunnel: RelayTunnel | undefined;
  readonly #mesh: RedisMesh;
  readonly #instance: string;
  readonly #tunnelId: number;
  readonly #forget: () => void;
  #open = true;

  constructor(mesh: RedisMesh, instance: string, tunnelId: number, forget: () => void) {
    this.#mesh = mesh;
    this.#instance = instance;
    this.#tunnelId = tunnelId;
    this.#forget = forget;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** `frame` is the end-to-end frame for the browser (the relay's forward hook already ran). */
  send(frame: Buffer, done: () => void): void {
    if (!this.#open) return void done();
    const ok = this.#mesh.toBrowser(this.#instance, encodeWire(WireOp.data, this.#tunnelId, frame), done, () => {
      this.#open = false;
      this.#forget();
      this.tunnel?.close(1001, "The browser's relay went away.", true, true);
    });
    if (!ok) this.tunnel?.close(TunnelClose.queueFull, 'The relay has too much queued towards other relays (--relay-redis-max-queued-bytes).', true);
  }

  close(code: number, reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#forget();
    this.#mesh.toBrowser(this.#instance, encodeClose(this.#tunnelId, code, reason), () => {}, () => {});
  }
}

/**
 * The host side of the relay as a Keel subsystem: pairings in SQLite with REST to list, create and
 * revoke them (the "Pair a phone" dialog and `keel pair` use it), and, with `--relay`, the
 * connector that dials out once Keel listens.
 *
 *   GET    /api/relay                 status: relay URL, host id, connection state, tunnels
 *   GET    /api/relay/pairings        {pairings: [...]} (never the secrets)
 *   POST   /api/relay/pairings        {name?} → 201 {pairing, link, qr_svg}; 409 relay_not_configured / too_many_pairings
 *   DELETE /api/relay/pairings/:id    204; 404 pairing_not_found — open tunnels of that pairing close at once
 */
import type { FastifyInstance } from 'fastify';
import type { KeelContext } from '../context.ts';
import { toDisposable } from '../core/lifecycle.ts';
import { sendError } from '../http/errors.ts';
import { pairingUrl } from '../tunnel/pairing-link.ts';
import type { RelayConnector } from './connector.ts';
import { relayUrls } from './urls.ts';
import { PairingLimitError, RelayStore, restrictDatabaseFiles } from './store.ts';

declare module '../context.ts' {
  interface KeelServices {
    relayHost: { store: RelayStore; connector: RelayConnector | undefined };
  }
}

const SWEEP_MS = 10 * 60_000;

/** Makes a pairing and its link (with the secret in the fragment) and the link's QR code as SVG. */
export async function createPairingLink(store: RelayStore, relayUrl: string, name: string, now: number) {
  const identity = store.identity(now);
  const p = store.create(name, now);
  const link = pairingUrl(relayUrl, { hostId: identity.hostId, pairingId: p.id, secret: p.secret });
  const { secret: _secret, ...pairing } = p;
  // Loaded here, not at start: only pairing needs a QR code (qrcode and pngjs are ~2 MB of RSS).
  const { default: QRCode } = await import('qrcode');
  return { pairing, link, qr_svg: await QRCode.toString(link, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' }) };
}

export async function registerRelayHost(app: FastifyInstance, ctx: KeelContext): Promise<void> {
  const o = ctx.options;
  restrictDatabaseFiles(o.dataDir);
  const store = new RelayStore(ctx.db, { maxPairings: o.relayMaxPairings, linkTtlMs: o.relayPairingLinkTtlMs });
  const identity = store.identity(ctx.clock.now());
  ctx.owner.add(ctx.clock.setInterval(() => store.sweep(ctx.clock.now()), SWEEP_MS));

  let port: number | undefined;
  const urls = relayUrls(o.relay);
  // The connector (tunnels, the handshake, the mux, the direct path) is loaded only with --relay.
  const relayModules = urls.length
    ? await Promise.all([import('./connector.ts'), import('../tunnel/direct.ts'), import('./direct-host.ts')])
    : undefined;
  let directBudget = 0;
  let connector: RelayConnector | undefined;
  if (relayModules) {
    const [{ RelayConnector }, { DEFAULT_DIRECT_LIMITS, parseIceServers }, { weriftPeers }] = relayModules;
    const iceServers = parseIceServers(
      o.relayIceServers.map((urls) => ({ urls })),
      4,
    );
    if (iceServers.length !== o.relayIceServers.length) ctx.log.warn({ given: o.relayIceServers }, 'relay: --relay-ice-servers takes stun:/turn: URLs; the others are ignored');
    directBudget = DEFAULT_DIRECT_LIMITS.maxBufferedBytes;
    connector = new RelayConnector({
      relayUrls: urls,
      identity,
      store,
      log: ctx.log,
      now: () => ctx.clock.now(),
      local: () => (port ? { port, token: ctx.auth.token } : undefined),
      reconnectMaxMs: o.relayReconnectMaxMs,
      maxTunnels: o.relayHostMaxTunnels,
      maxStreamsPerTunnel: o.relayMaxStreamsPerTunnel,
      streamWindowBytes: o.relayStreamWindowBytes,
      handshakeTimeoutMs: o.relayHandshakeTimeoutMs,
      pingMs: o.relayPingMs,
      maxFrameBytes: o.relayMaxFrameBytes,
      direct: o.relayDirect ? { makePeer: weriftPeers({ addresses: o.relayDirectAddresses }), iceServers } : undefined,
    });
  }
  ctx.services.relayHost = { store, connector };
  if (connector) {
    ctx.owner.add(toDisposable(() => connector.close()));
    ctx.onShutdown(() => connector.close());
    app.addHook('onListen', async () => {
      const addr = app.server.address();
      if (addr && typeof addr === 'object') port = addr.port;
      connector.start();
    });
    // Each tunnel holds at most its stream windows (browser → host) and one local message per stream (host → browser).
    ctx.observe.addBudget('relay', o.relayHostMaxTunnels * o.relayMaxStreamsPerTunnel * (o.relayStreamWindowBytes + 64 * 1024), 'relay tunnels × streams per tunnel × (stream window + 64 KiB)');
    // A direct path: its data channel's send buffer, what the path layer keeps (unacknowledged, held early: ≤ 4 tunnel windows of the relay's default), and werift's own state (measured ~1 MB RSS per open peer connection; 2 MiB allowed).
    if (o.relayDirect) ctx.observe.addBudget('relay_direct', o.relayHostMaxTunnels * (directBudget + 4 * 256 * 1024 + 2 * 1024 * 1024), 'relay tunnels × (data channel buffer 4 MiB + path layer 1 MiB + werift ~2 MiB)');
  }
  ctx.observe.addSubsystem('relay_host', () => {
    const s = connector?.status();
    return { enabled: !!connector, registered: s?.state === 'registered', tunnels: s?.tunnels ?? 0, direct: s?.direct ?? 0, streams: s?.streams ?? 0, connects: s?.connects ?? 0 };
  });

  app.get('/api/relay', async () => ({ enabled: !!connector, host_id: identity.hostId, ...(connector?.status() ?? { relay: '', state: 'off', tunnels: 0 }) }));
  app.get('/api/relay/pairings', async () => ({ pairings: store.list(ctx.clock.now()) }));
  app.post('/api/relay/pairings', async (req, reply) => {
    if (!o.relay) return sendError(reply, 409, 'relay_not_configured', 'Keel is not using a relay: start it with --relay https://your-relay to pair a phone.');
    const body = (req.body ?? {}) as { name?: unknown };
    const name = typeof body.name === 'string' && body.name.trim() ? body.name.trim().slice(0, 80) : 'Phone';
    try {
      const made = await createPairingLink(store, urls[0]!, name, ctx.clock.now());
      restrictDatabaseFiles(o.dataDir);
      return reply.code(201).header('Cache-Control', 'no-store').send(made);
    } catch (err) {
      if (err instanceof PairingLimitError) return sendError(reply, 409, 'too_many_pairings', err.message);
      throw err;
    }
  });
  // Drops the direct WebRTC paths (traffic falls back to the relay; pages try again later): for troubleshooting, and the tests.
  app.post('/api/relay/direct/drop', async () => ({ dropped: connector?.dropDirect('dropped on the host (POST /api/relay/direct/drop)') ?? 0 }));
  app.delete('/api/relay/pairings/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!store.revoke(id)) return sendError(reply, 404, 'pairing_not_found', `No pairing ${id}: it was already revoked or has expired.`);
    connector?.revoked(id);
    return reply.code(204).send();
  });
}

/**
 * `keel relay`: the HTTP(S) server a public machine runs. It serves the web UI's static files
 * (marked as a relay page, with a strict Content-Security-Policy), the two WebSocket endpoints —
 * `/relay/host` for hosts, `/relay/connect/<hostId>` for browsers — and Keel's health endpoints.
 * It holds no token and no plaintext: host ids, routing state and bounded buffers only.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { KeelOptions } from '../config/options.ts';
import type { KeelContext } from '../context.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { DisposableStore } from '../core/lifecycle.ts';
import { SlotLimiter } from '../core/slot-limiter.ts';
import { errorHandler, sendError } from '../http/errors.ts';
import { isOriginAllowed, requestScheme } from '../http/guards.ts';
import { registerAppFiles } from '../http/app-files.ts';
import { WEB_DIST } from '../http/ui.ts';
import { closeAllWebSockets } from '../http/ws.ts';
import { AuditLog } from '../observe/audit-log.ts';
import { registerDebugRoutes } from '../observe/debug-routes.ts';
import { HealthMonitor, healthMonitorSettings } from '../observe/health-monitor.ts';
import { recordBaselineRss } from '../observe/memory-report.ts';
import { ObserveRegistry } from '../observe/registry.ts';
import { TunnelClose } from '../tunnel/errors.ts';
import type { RedisMesh } from './mesh.ts';
import { Relay, type HostRouter } from './relay.ts';
import type { ForwardHook } from './tunnel.ts';

export interface RelayServerDeps {
  clock?: Clock;
  log?: Logger;
  forward?: ForwardHook;
  resolveHost?: (hostId: string) => string;
  router?: HostRouter;
}

export interface RelayServer {
  readonly app: FastifyInstance;
  readonly relay: Relay;
  readonly ctx: KeelContext;
  listen(): Promise<string>;
  readonly port: number;
  close(reason?: string): Promise<void>;
}

export async function createRelayServer(options: KeelOptions, deps: RelayServerDeps = {}): Promise<RelayServer> {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? pino({ level: options.logLevel, base: undefined });
  const owner = new DisposableStore();
  const audit = new AuditLog(options.auditLogEntries, clock);
  const observe = new ObserveRegistry();
  const health = owner.add(
    new HealthMonitor({
      ...healthMonitorSettings(options),
      clock,
      connectionCount: () => relay.hostCount + relay.tunnelCount,
      log,
      audit,
    }),
  );
  // ioredis is loaded only by relays that share through Redis.
  const mesh: RedisMesh | undefined = options.relayRedisUrl
    ? new (await import('./mesh.ts')).RedisMesh({ url: options.relayRedisUrl, ttlMs: options.relayRedisTtlMs, maxQueuedBytes: options.relayRedisMaxQueuedBytes, maxFrameBytes: options.relayMaxFrameBytes, log })
    : undefined;
  const relay = new Relay(options, { clock, log, forward: deps.forward, resolveHost: deps.resolveHost, router: deps.router, admit: () => health.assertAdmitting(), mesh });
  owner.add({ dispose: () => relay.dispose() });
  if (mesh) {
    try {
      await mesh.start(relay.meshHooks());
    } catch (err) {
      await mesh.close();
      relay.dispose();
      owner.dispose();
      throw new Error(`cannot reach Redis at ${redactUrl(options.relayRedisUrl)}: ${(err as Error).message}`);
    }
    log.info({ instance: mesh.instance }, 'relay: sharing hosts through redis');
  }
  observe.addConnections(relay.hostSlots);
  observe.addConnections(relay.tunnelSlots);
  observe.addSubsystem('relay', () => relay.stats());
  observe.addBudget('relay', options.relayMaxTunnels * 2 * options.relayMaxQueuedBytes + (options.relayMaxHosts + options.relayMaxTunnels) * (options.relayMaxFrameBytes + 16 * 1024), 'max tunnels × 2 directions × max queued bytes + sockets × (max frame + 16 KiB)');
  if (mesh) observe.addBudget('relay_redis', options.relayRedisMaxQueuedBytes, 'bytes handed to Redis and not yet taken (--relay-redis-max-queued-bytes)');

  // The debug routes read options, health, observe, audit, clock and log; a relay has no database and no token.
  const ctx = {
    options,
    clock,
    log,
    owner,
    health,
    audit,
    observe,
    services: {},
    onShutdown: () => {},
    get db(): never {
      throw new Error('the relay has no database');
    },
    get auth(): never {
      throw new Error('the relay holds no token');
    },
  } as unknown as KeelContext;

  const tls = options.tlsCert && options.tlsKey ? { cert: fs.readFileSync(options.tlsCert), key: fs.readFileSync(options.tlsKey) } : undefined;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
    ...(tls ? { https: tls } : {}),
  }) as unknown as FastifyInstance;
  const connections = new SlotLimiter('relay_http_connections', options.relayMaxHosts + options.relayMaxTunnels + options.maxHttpConnections, { option: '--relay-max-hosts + --relay-max-tunnels + --max-http-connections' });
  capConnections(app, connections);
  // The debug routes report the HTTP layer's numbers (Keel's server decorates its own gate here).
  app.decorate('keelHttp', { stats: () => ({ connections: connections.inUse, max_connections: connections.max }) });
  app.decorateRequest('principal', null);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`));
  app.addHook('onRequest', async (req, reply) => {
    const p = req.url.split('?')[0]!;
    if ((p === '/metrics' || p.startsWith('/debug')) && !adminAllowed(req, options.relayAdminToken)) {
      return sendError(reply, 403, 'forbidden', 'Relay metrics and debug endpoints answer loopback requests without proxy headers, or requests with Authorization: Bearer <--relay-admin-token>.');
    }
  });
  app.addHook('onResponse', async (req) => {
    if ((req.raw as { upgrade?: boolean }).upgrade && !req.raw.socket.destroyed) req.raw.socket.destroy();
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('X-Frame-Options', 'DENY');
    return payload;
  });
  await app.register(fastifyWebsocket, {
    options: { maxPayload: options.relayMaxFrameBytes, perMessageDeflate: false },
    errorHandler(err, socket, req) {
      req.log.debug({ err }, 'relay websocket error');
      socket.terminate();
    },
  });

  registerDebugRoutes(app, ctx);
  await registerRelayUi(app);

  app.get('/relay/host', { websocket: true }, (socket) => relay.acceptHost(socket));
  app.get('/relay/connect/:hostId', { websocket: true, preValidation: browserOriginCheck(options.allowedOrigins) }, (socket, req) => {
    relay.acceptBrowser(socket, (req.params as { hostId: string }).hostId);
  });
  await app.ready();
  recordBaselineRss();

  let port = options.port;
  let closing: Promise<void> | undefined;
  return {
    app,
    relay,
    ctx,
    get port() {
      return port;
    },
    async listen() {
      await app.listen({ port: options.port, host: options.host });
      const addr = app.server.address();
      if (addr && typeof addr === 'object') port = addr.port;
      const shown = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
      return `${tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
    },
    close(reason = 'shutdown') {
      closing ??= (async () => {
        log.info({ reason }, 'relay: shutting down');
        await closeAllWebSockets(app.websocketServer);
        try {
          await app.close();
        } finally {
          await mesh?.close();
          owner.dispose();
        }
      })();
      return closing;
    },
  };
}

/** A Redis URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}

/** Browsers may open tunnels only from the relay's own page (or an allowed origin); hosts send no Origin. */
function browserOriginCheck(allowed: readonly string[]) {
  return async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
    // The relay usually sits behind a TLS proxy, so the page's https origin reaches it over http. The
    // scheme adds nothing here (a tunnel is only as good as its end-to-end handshake), so the scheme
    // that counts is the page's own (X-Forwarded-Proto when present, else the origin's).
    const scheme = req.headers['x-forwarded-proto'] ? requestScheme(req.raw, true) : originScheme(req.headers.origin);
    if (!isOriginAllowed(req.headers.origin, req.headers.host, req.headers['sec-fetch-site'] as string | undefined, allowed, scheme)) {
      return sendError(reply, 403, 'origin_not_allowed', `Origin "${req.headers.origin ?? '(cross-site)'}" may not open tunnels on this relay.`);
    }
  };
}

function originScheme(origin: string | undefined): 'http' | 'https' {
  return origin?.startsWith('https:') ? 'https' : 'http';
}

function adminAllowed(req: FastifyRequest, token: string): boolean {
  if (token) {
    const got = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7).trim() : '';
    const a = crypto.createHash('sha256').update(got).digest();
    const b = crypto.createHash('sha256').update(token).digest();
    return crypto.timingSafeEqual(a, b);
  }
  const ip = req.socket.remoteAddress ?? '';
  const loopback = ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1';
  return loopback && !req.headers['x-forwarded-for'] && !req.headers.forwarded && !req.headers['x-real-ip'];
}

/**
 * The Content-Security-Policy of the relay page: scripts only from the relay itself, connections
 * only back to it. It limits what injected markup could do; it cannot protect against a relay that
 * serves other scripts (docs/relay.md, threat model).
 */
const RELAY_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

async function registerRelayUi(app: FastifyInstance): Promise<void> {
  const indexFile = path.join(WEB_DIST, 'index.html');
  const hasDist = fs.existsSync(indexFile);
  if (hasDist) {
    await app.register(fastifyStatic, { root: path.join(WEB_DIST, 'assets'), prefix: '/assets/', index: false, decorateReply: false, maxAge: '365d', immutable: true });
  }
  await registerAppFiles(app, { headers: { 'Content-Security-Policy': RELAY_CSP } });
  // Read once: the page is the same for everyone, and the relay marks it so the app starts its tunnel first.
  const page = hasDist ? fs.readFileSync(indexFile, 'utf8').replace('<head>', '<head>\n    <meta name="keel-relay" content="1" />') : undefined;
  app.get('/', async (_req, reply) => {
    if (!page) {
      reply.code(503).type('text/plain');
      return 'The web UI is not built on this relay: run `npm run build`.';
    }
    reply.header('Cache-Control', 'no-store').header('Content-Security-Policy', RELAY_CSP).type('text/html; charset=utf-8');
    return page;
  });
}

const kRefused = Symbol('keel.relay.refused');
type MaybeRefused = Socket & { [kRefused]?: boolean };

/** Caps TCP connections: sockets over the cap get a 503 on their first request and are destroyed after 5 s without one. */
function capConnections(app: FastifyInstance, limiter: SlotLimiter): void {
  app.server.on('connection', (socket: MaybeRefused) => {
    const slot = limiter.tryAcquire();
    if (!slot) {
      socket[kRefused] = true;
      socket.setTimeout(5_000, () => socket.destroy());
      return;
    }
    socket.once('close', () => slot.dispose());
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!(req.raw.socket as MaybeRefused)[kRefused]) return;
    reply.header('Connection', 'close');
    return sendError(reply, 503, 'too_many_connections', `Too many connections: the relay is at its limit of ${limiter.max} open connections.`);
  });
}

export { TunnelClose };

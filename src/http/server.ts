/**
 * The Fastify instance with Keel's security defaults: Host allow-list on every request, auth on
 * everything but liveness probes and static assets, Origin on every WebSocket upgrade and
 * state-changing request, body and frame size limits, a TCP connection cap, one error shape.
 */
import type { Socket } from 'node:net';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { KeelOptions } from '../config/options.ts';
import type { SlotLimiter } from '../core/slot-limiter.ts';
import type { Auth, Principal } from './auth.ts';
import { errorHandler, sendError } from './errors.ts';
import { isHostAllowed, isOriginAllowed } from './guards.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; null on public routes without credentials. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Route answers without credentials (liveness probes, static assets, the sign-in page). */
    public?: boolean;
    /** Route checks credentials itself (e.g. a share link that grants a read-only viewer). */
    customAuth?: boolean;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface HttpServerDeps {
  options: KeelOptions;
  log: Logger;
  auth: Auth;
  /** Caps open TCP connections (`maxHttpConnections`). */
  connections: SlotLimiter;
}

export function isUpgrade(req: FastifyRequest): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

export async function createHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const { options, auth } = deps;
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxBodyBytes,
    // Idle keep-alive sockets are closed at shutdown; busy ones finish or are cut at the deadline.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  });

  capConnections(app, deps.connections);

  app.decorateRequest('principal', null);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`));

  app.addHook('onRequest', async (req, reply) => {
    if (!isHostAllowed(req.headers.host, options.allowedHosts)) {
      return sendError(reply, 403, 'host_not_allowed', `Host "${req.headers.host ?? ''}" is not allowed (DNS-rebinding guard). If you reach Keel by this name, add it with --allowed-hosts.`);
    }
    const cfg = req.routeOptions.config;
    req.principal = auth.principal(req.headers);
    if ((isUpgrade(req) || !SAFE_METHODS.has(req.method)) && !isOriginAllowed(req.headers.origin, req.headers.host, req.headers['sec-fetch-site'] as string | undefined, options.allowedOrigins)) {
      return sendError(reply, 403, 'origin_not_allowed', `Origin "${req.headers.origin ?? '(cross-site)'}" may not act on this server (cross-site request guard). Add it with --allowed-origins if it is yours.`);
    }
    if (cfg?.public || cfg?.customAuth) return;
    if (!req.principal) {
      return sendError(reply, 401, 'unauthorized', 'Missing or invalid credentials. Open the URL that keel printed at start (it carries ?token=), or send Authorization: Bearer <token>.');
    }
  });

  // An upgrade request answered with a plain HTTP status (401, 403, 404, 503) has left Node's HTTP
  // machinery, so nothing closes its socket afterwards. @fastify/websocket destroys it only when its
  // own onRequest hook ran, and the guard above refuses before that hook: every refused upgrade used
  // to leak a half-open socket, an fd and a maxHttpConnections slot, and to hold up app.close().
  // (Successful upgrades are hijacked and never reach onResponse.)
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
    options: { maxPayload: options.maxWsFrameBytes, perMessageDeflate: false },
    errorHandler(err, socket, req) {
      // Unclean disconnects are routine on phones and flaky networks: debug, not error.
      req.log.debug({ err }, 'websocket error');
      socket.terminate();
    },
  });

  return app;
}

const kRefused = Symbol('keel.refusedConnection');
type MaybeRefused = Socket & { [kRefused]?: boolean };

/**
 * Caps concurrent TCP connections. A socket over the cap is marked refused: its first request gets a
 * well-formed 503 with the JSON error body and `Connection: close`, and a short timer destroys it if
 * no request comes, so refused sockets cannot pile up.
 */
function capConnections(app: FastifyInstance, limiter: SlotLimiter): void {
  app.server.on('connection', (socket: MaybeRefused) => {
    const slot = limiter.tryAcquire();
    if (!slot) {
      socket[kRefused] = true;
      socket.setTimeout(REFUSED_SOCKET_TIMEOUT_MS, () => socket.destroy());
      return;
    }
    socket.once('close', () => slot.dispose());
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!(req.raw.socket as MaybeRefused)[kRefused]) return;
    reply.header('Connection', 'close').header('Retry-After', '1');
    return sendError(reply, 503, 'too_many_connections', `Too many connections: the server is at its limit of ${limiter.max} open connections (option --max-http-connections). Try again later.`);
  });
}

/** A refused socket that sends no request within this time is destroyed. */
const REFUSED_SOCKET_TIMEOUT_MS = 5_000;

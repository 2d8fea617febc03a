/**
 * The Fastify instance with Keel's security defaults. In the order a request meets them:
 *  - the connection gate (connections.ts): a slot of maxHttpConnections per TCP connection, with a
 *    share for unauthenticated ones, and Node's headers/request/keep-alive timeouts;
 *  - the front door, before Fastify's router: Host allow-list on every request, Origin on every
 *    WebSocket upgrade and state-changing request, handshake checks and close-after-refusal for
 *    upgrades (upgrades.ts);
 *  - auth on everything but liveness probes and static assets (onRequest hook);
 *  - body and frame size limits, one error shape for every answer (errors.ts), security headers on
 *    every answer (headers.ts).
 */
import http from 'node:http';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { KeelOptions } from '../config/options.ts';
import type { SlotLimiter } from '../core/slot-limiter.ts';
import type { Auth, Principal } from './auth.ts';
import { ConnectionGate } from './connections.ts';
import { clientErrorHandler, errorHandler, frameworkErrors, notFoundHandler, sendError, writeRefusal } from './errors.ts';
import { checkHostAndOrigin, requestScheme, type GuardOptions, type Refusal, type Scheme } from './guards.ts';
import { setSecurityHeaders } from './headers.ts';
import { UpgradeGuard } from './upgrades.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; null on public routes without credentials. */
    principal: Principal | null;
    /** The scheme the browser used (https behind a trusted TLS proxy; see --trust-forwarded-proto). */
    scheme: Scheme;
  }
  interface FastifyContextConfig {
    /** Route answers without credentials (liveness probes, static assets, the sign-in page). */
    public?: boolean;
    /** Route checks credentials itself (e.g. a share link that grants a read-only viewer). */
    customAuth?: boolean;
  }
  interface FastifyInstance {
    /** Connection gate and upgrade guard figures, for /debug/memory and /metrics. */
    keelHttp: { stats(): Record<string, number> };
  }
}

/** Longest path segment the router accepts (ids are far shorter); longer answers 414. */
const MAX_PARAM_LENGTH = 100;
/** A request on a kept-alive connection after the server stopped listening. */
const SHUTTING_DOWN: Refusal = { status: 503, error: 'shutting_down', message: 'Keel is shutting down; try again once it is back.', headers: { 'Retry-After': '5' } };
/** How often Node checks for requests past their headers/request timeout (its default is 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface HttpServerDeps {
  options: KeelOptions;
  log: Logger;
  auth: Auth;
  /** Caps open TCP connections (`maxHttpConnections`). */
  connections: SlotLimiter;
}

export async function createHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const { options, auth } = deps;
  const gate = new ConnectionGate(deps.connections, options.maxUnauthenticatedConnections);
  const guard: GuardOptions = { allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins, trustForwardedProto: options.trustForwardedProto };
  const tooMany = (): Refusal => ({
    status: 503,
    error: 'too_many_connections',
    message: `Too many connections: the server is at its limit of ${deps.connections.max} open connections (option --max-http-connections). Try again later.`,
    headers: { 'Retry-After': '1' },
  });

  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxBodyBytes,
    // Idle keep-alive sockets are closed at shutdown; busy ones finish or are cut at the deadline.
    forceCloseConnections: 'idle',
    // Keel's own 503 while closing (below), in Keel's shape; Fastify's would come first otherwise.
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrors(MAX_PARAM_LENGTH),
    clientErrorHandler,
    // Our own server, to set Node's timeouts and to put the front door before Fastify's router,
    // which answers a bad %-escape (400) or an over-long id (414) before any hook could check Host.
    serverFactory: (handler) => {
      const server = http.createServer(
        {
          headersTimeout: options.httpHeadersTimeoutMs,
          requestTimeout: Math.max(options.httpRequestTimeoutMs, options.httpHeadersTimeoutMs),
          keepAliveTimeout: options.httpKeepAliveTimeoutMs,
          connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
        },
        (req, res) => {
          const socket = req.socket;
          gate.requestStarted(socket);
          res.once('close', () => gate.requestEnded(socket));
          setSecurityHeaders(res);
          const refusal = gate.isRefused(socket) ? tooMany() : !server.listening ? SHUTTING_DOWN : checkHostAndOrigin(req, false, guard);
          if (refusal) return writeRefusal(res, refusal);
          handler(req, res);
        },
      );
      server.on('connection', gate.onConnection);
      return server;
    },
  });

  app.decorateRequest('principal', null);
  app.decorateRequest('scheme', 'http');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  app.addHook('onRequest', async (req, reply) => {
    req.scheme = requestScheme(req.raw, options.trustForwardedProto);
    req.principal = auth.principal(req.headers);
    if (req.principal) gate.authenticate(req.raw.socket);
    const cfg = req.routeOptions.config;
    if (cfg?.public || cfg?.customAuth) return;
    if (!req.principal) {
      return sendError(reply, 401, 'unauthorized', 'Missing or invalid credentials. Open the URL that keel printed at start (it carries ?token=), or send Authorization: Bearer <token>.');
    }
  });

  await app.register(fastifyWebsocket, {
    options: { maxPayload: options.maxWsFrameBytes, perMessageDeflate: false },
    errorHandler(err, socket, req) {
      // Unclean disconnects are routine on phones and flaky networks: debug, not error.
      req.log.debug({ err }, 'websocket error');
      socket.terminate();
    },
  });

  const upgrades = new UpgradeGuard({
    gate,
    check: (req) => checkHostAndOrigin(req, true, guard),
    tooMany,
    deadlineMs: Math.max(options.httpRequestTimeoutMs, options.httpHeadersTimeoutMs),
  });
  upgrades.install(app.server, app.websocketServer);
  app.addHook('preClose', async () => upgrades.dispose());
  app.decorate('keelHttp', { stats: () => ({ ...gate.stats(), pending_upgrades: upgrades.pending }) });

  return app;
}

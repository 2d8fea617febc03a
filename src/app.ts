/**
 * Builds a Keel server from options: the owner store, health monitor, database, HTTP server and
 * every subsystem. `close()` is the graceful shutdown: run the shutdown hooks (subsystems refuse new
 * work and tell their clients), close the remaining sockets, close the HTTP server, dispose
 * everything — bounded by `shutdownTimeoutMs` (cli.ts).
 */
import v8 from 'node:v8';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { KeelOptions } from './config/options.ts';
import type { KeelContext, ShutdownHook, Subsystem } from './context.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { DisposableStore, toDisposable } from './core/lifecycle.ts';
import { SlotLimiter } from './core/slot-limiter.ts';
import { Auth, loadOrCreateToken } from './http/auth.ts';
import { createHttpServer } from './http/server.ts';
import { closeAllWebSockets } from './http/ws.ts';
import { registerUi } from './http/ui.ts';
import { AuditLog } from './observe/audit-log.ts';
import { registerDebugRoutes } from './observe/debug-routes.ts';
import { HealthMonitor, healthMonitorSettings, type MemoryReading } from './observe/health-monitor.ts';
import { registerLive } from './observe/live.ts';
import { budgetReport, recordBaselineRss } from './observe/memory-report.ts';
import { ObserveRegistry } from './observe/registry.ts';
import { openDatabase, storageOf } from './store/db.ts';
import { registerTerminals } from './terminals/routes.ts';
import { registerDocuments } from './docs/routes.ts';
import { registerStream } from './stream/routes.ts';
import { registerChat } from './chat/routes.ts';
import { registerAgent } from './agent/register.ts';
import { registerRelayHost } from './relay-host/routes.ts';

/** Feature subsystems, registered in order. Later issues add theirs here. */
const SUBSYSTEMS: Subsystem[] = [registerLive, registerTerminals, registerStream, registerChat, registerAgent, registerDocuments, registerRelayHost];

export interface KeelDeps {
  clock?: Clock;
  log?: Logger;
  readMemory?: () => MemoryReading;
  /** Extra subsystems (tests). */
  subsystems?: Subsystem[];
}

export interface Keel {
  readonly app: FastifyInstance;
  readonly ctx: KeelContext;
  /** Starts listening; resolves to the base URL (without token). */
  listen(): Promise<string>;
  /** The URL to open in a browser, with the token. */
  readonly startUrl: string;
  readonly port: number;
  /**
   * Graceful shutdown. Writes the database could not take are retried until `deadline` (epoch ms;
   * default: --shutdown-timeout-ms from now, less a second for the rest); what is still unwritten
   * then is logged and listed in `unsaved`.
   */
  close(reason?: string, opts?: { deadline?: number }): Promise<void>;
  /** After close: what could not be stored (empty when everything was). */
  readonly unsaved: readonly string[];
}

export async function createKeel(options: KeelOptions, deps: KeelDeps = {}): Promise<Keel> {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? pino({ level: options.logLevel, base: undefined });
  const owner = new DisposableStore();
  const shutdownHooks: ShutdownHook[] = [];

  let audit: AuditLog | undefined;
  const db = openDatabase(options.dataDir, {
    busyTimeoutMs: options.storageBusyTimeoutMs,
    maxPendingWrites: options.storageMaxPendingWrites,
    maxPendingBytes: options.storageMaxPendingBytes,
    log: log.child({ subsystem: 'storage' }),
    onStorageChange: (h) => audit?.record('storage', h.state === 'ok' ? 'recovered' : 'degraded', h.state === 'ok' ? 'every kept write landed' : `${h.problem}: ${h.last_error}`),
  });
  owner.add(toDisposable(() => db.close()));
  // Disposed before the connection closes (reverse order): what it still holds is logged as lost.
  const storage = owner.add(storageOf(db));
  const auth = new Auth(loadOrCreateToken(options.dataDir, options.token));
  audit = new AuditLog(options.auditLogEntries, clock);
  const observe = new ObserveRegistry();
  const httpConnections = new SlotLimiter('http_connections', options.maxHttpConnections, { option: '--max-http-connections' });
  observe.addConnections(httpConnections);

  const health = owner.add(
    new HealthMonitor({
      ...healthMonitorSettings(options),
      clock,
      readMemory: deps.readMemory,
      connectionCount: () => observe.connections().reduce((n, c) => (c.name === 'http_connections' ? n : n + c.count()), 0),
      log,
      audit,
    }),
  );
  observe.addBudget('health', options.healthHistorySamples * 160 + options.auditLogEntries * 700, 'history samples × 160 B + audit records × 700 B');
  observe.addBudget('http', options.maxHttpConnections * (options.maxBodyBytes + 64 * 1024), 'max HTTP connections × (max body + 64 KiB socket buffers)');
  observe.addBudget('storage', options.storageMaxPendingBytes, 'writes kept in memory while the database cannot take them (--storage-max-pending-bytes)');

  const ctx: KeelContext = {
    options,
    clock,
    log,
    owner,
    health,
    audit,
    observe,
    db,
    auth,
    services: {},
    onShutdown: (hook) => void shutdownHooks.push(hook),
  };

  const app = await createHttpServer({ options, log, auth, connections: httpConnections });
  registerDebugRoutes(app, ctx);
  await registerUi(app, auth);
  for (const sub of [...SUBSYSTEMS, ...(deps.subsystems ?? [])]) await sub(app, ctx);
  await app.ready();
  recordBaselineRss();

  let port = options.port;
  let closing: Promise<void> | undefined;
  let unsaved: string[] = [];
  const keel: Keel = {
    app,
    ctx,
    get port() {
      return port;
    },
    get startUrl() {
      return `${baseUrl(options.host, port)}/?token=${auth.token}`;
    },
    async listen() {
      await app.listen({ port: options.port, host: options.host });
      const addr = app.server.address();
      if (addr && typeof addr === 'object') port = addr.port;
      return baseUrl(options.host, port);
    },
    get unsaved() {
      return unsaved;
    },
    close(reason = 'shutdown', opts = {}) {
      const deadline = opts.deadline ?? Date.now() + options.shutdownTimeoutMs - Math.min(1_000, options.shutdownTimeoutMs / 5);
      closing ??= (async () => {
        storage.unbound();
        for (const hook of shutdownHooks) {
          try {
            await hook(reason);
          } catch (err) {
            log.error({ err }, 'shutdown hook failed');
          }
        }
        // The hooks stored what they hold (documents): whatever the database cannot take yet is retried until the deadline.
        if (storage.pending) log.warn({ pending: storage.pending, problem: storage.health().problem }, 'waiting for the database to take the writes kept in memory');
        unsaved = await storage.flush(deadline);
        if (unsaved.length) {
          log.fatal({ unsaved, problem: storage.health().problem, error: storage.health().last_error }, `${unsaved.length} write(s) could not be stored before shutdown and are lost: ${unsaved.slice(0, 20).join('; ')}${unsaved.length > 20 ? '; …' : ''}`);
        }
        // Clients that never answer the close frame must not hold the HTTP server open (see ws.ts).
        await closeAllWebSockets(app.websocketServer);
        try {
          await app.close();
        } finally {
          owner.dispose();
        }
      })();
      return closing;
    },
  };
  return keel;
}

/**
 * Process-wide runtime settings from the options, for entry points that own the process (the CLI,
 * benchmark servers); call before anything big is allocated. Not done by createKeel: tests build
 * many Keels in one shared process.
 */
export function tuneRuntime(options: KeelOptions): void {
  // V8 consults this flag each time it decides how far to let the heap grow, so setting it here
  // takes effect for the main heap (measured: see the option's help) and for worker isolates made
  // later. Node warns that changing V8 flags after start is unsupported in general; this one is a
  // heuristics switch, and the benchmarks and soak run measure it (Node 24).
  if (options.v8OptimizeForSize) v8.setFlagsFromString('--optimize-for-size');
}

function baseUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

export { budgetReport };

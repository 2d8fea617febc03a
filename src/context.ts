/**
 * What every subsystem is given when it is registered: options, clock, logger, the app's owner
 * store, the health monitor, the audit log, the observe registry, the database and auth.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from './core/clock.ts';
import type { DisposableStore } from './core/lifecycle.ts';
import { SlotLimiter } from './core/slot-limiter.ts';
import type { KeelOptions } from './config/options.ts';
import type { Auth } from './http/auth.ts';
import type { AuditLog } from './observe/audit-log.ts';
import type { HealthMonitor } from './observe/health-monitor.ts';
import type { ObserveRegistry } from './observe/registry.ts';
import type { Database } from './store/db.ts';

/**
 * Services subsystems offer each other (the agent uses the terminal manager, chat uses the event
 * log). Each subsystem adds its entry by module augmentation:
 *   declare module '../context.ts' { interface KeelServices { terminals: TerminalManager } }
 * and sets `ctx.services.terminals = manager` when it registers. Read them at use time, not at
 * import time: registration order is the SUBSYSTEMS order in app.ts.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface KeelServices {}

export type ShutdownHook = (reason: string) => void | Promise<void>;

export interface KeelContext {
  readonly options: KeelOptions;
  readonly clock: Clock;
  readonly log: Logger;
  /** Owns everything the app holds; disposed (in reverse order) at shutdown. */
  readonly owner: DisposableStore;
  readonly health: HealthMonitor;
  readonly audit: AuditLog;
  readonly observe: ObserveRegistry;
  readonly db: Database;
  readonly auth: Auth;
  /** Services registered by subsystems (see KeelServices). */
  readonly services: Partial<KeelServices>;
  /** Runs before the HTTP server closes: tell clients, flush stores. Awaited, in registration order. */
  onShutdown(hook: ShutdownHook): void;
}

/** A slot limiter for one kind of connection, refusing while the health monitor sheds load, shown in /debug/memory and /metrics. */
export function connectionLimiter(ctx: KeelContext, kind: string, max: number, option: string): SlotLimiter {
  const limiter = new SlotLimiter(kind, max, { option, admit: () => ctx.health.assertAdmitting() });
  ctx.observe.addConnections(limiter);
  return limiter;
}

/** A subsystem: registers its routes on the app and its resources with ctx.owner. */
export type Subsystem = (app: FastifyInstance, ctx: KeelContext) => void | Promise<void>;

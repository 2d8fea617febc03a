/**
 * The stream subsystem: the event log (ctx.services.eventLog, the agent's only way to record what it
 * does) and `GET /stream`, the Server-Sent Events endpoint every open browser listens to.
 * Protocol: docs/stream.md.
 */
import { getDefaultHighWaterMark } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Agent, AgentState } from '../agent/types.ts';
import { connectionLimiter, type KeelContext } from '../context.ts';
import { KeelError } from '../core/errors.ts';
import { toDisposable } from '../core/lifecycle.ts';
import { EventLog } from './event-log.ts';
import { resumePoint } from './sse-format.ts';
import { SseHub } from './sse-hub.ts';

/** The event log as other subsystems see it: EventLog plus `publishState` for the agent. */
export interface EventLogService {
  /** Persists an event and sends it to /stream subscribers (one synchronous step). See EventLog.append. */
  append: EventLog['append'];
  read: EventLog['read'];
  readMessagePage: EventLog['readMessagePage'];
  readMessagesAfter: EventLog['readMessagesAfter'];
  /** Newest seq ever appended. */
  head(): number;
  deleteSession(sessionId: string): number;
  setSessionCheck: EventLog['setSessionCheck'];
  /**
   * The agent calls this when its state (busy sessions, model, terminals held) changes: /stream
   * sends `event: state` to everyone if it differs from the last one sent. Appending a `turn` event
   * does it too.
   */
  publishState(): void;
}

declare module '../context.ts' {
  interface KeelServices {
    eventLog: EventLogService;
    /** The /stream hub, for `publishState()` (the agent looks for it here too). */
    sseHub: Pick<SseHub, 'publishState' | 'stats'>;
  }
}

/** Read at use time: the agent registers after us, and may not be there at all. */
export function agentOf(ctx: KeelContext): Agent | undefined {
  return (ctx.services as { agent?: Agent }).agent;
}

const NO_AGENT_STATE: AgentState = { busySessions: [], model: null, configured: false, terminals: {} };

const streamQuery = z.object({
  from: z.string().max(20).optional(),
  session: z.string().min(1).max(64).optional(),
});

export async function registerStream(app: FastifyInstance, ctx: KeelContext): Promise<void> {
  const o = ctx.options;
  const limiter = connectionLimiter(ctx, 'sse_connections', o.maxSseConnections, '--max-sse-connections');

  const hub = ctx.owner.add(
    new SseHub({
      clock: ctx.clock,
      heartbeatMs: o.sseHeartbeatMs,
      maxLifetimeMs: o.sseMaxLifetimeMs,
      retryMs: o.sseRetryMs,
      maxQueuedEvents: o.sseMaxQueuedEvents,
      maxQueuedBytes: o.sseMaxQueuedBytes,
      log: ctx.log,
      audit: ctx.audit,
      readState: () => agentOf(ctx)?.state() ?? NO_AGENT_STATE,
      readLog: (after, sessionId, limit) => log.readRaw({ after, sessionId, limit }),
      head: () => log.head,
    }),
  );
  const log = ctx.owner.add(
    new EventLog(ctx.db, { maxEventsPerSession: o.eventLogMaxEventsPerSession, maxAgeMs: o.eventLogMaxAgeMs, sweepMs: o.eventLogSweepMs, clock: ctx.clock }, (e, json) => {
      hub.publish(e, json);
      if (e.payload.type === 'turn') hub.publishState();
    }),
  );

  ctx.services.eventLog = {
    append: (sessionId, payload) => log.append(sessionId, payload),
    read: (opts) => log.read(opts),
    readMessagePage: (sessionId, before, limit) => log.readMessagePage(sessionId, before, limit),
    readMessagesAfter: (sessionId, after, limit) => log.readMessagesAfter(sessionId, after, limit),
    head: () => log.head,
    deleteSession: (id) => log.deleteSession(id),
    setSessionCheck: (check) => log.setSessionCheck(check),
    publishState: () => hub.publishState(),
  };
  ctx.services.sseHub = hub;
  ctx.owner.add(
    toDisposable(() => {
      delete ctx.services.eventLog;
      delete ctx.services.sseHub;
    }),
  );

  ctx.observe.addSubsystem('stream', () => ({
    ...hub.stats(),
    max_queued_events: o.sseMaxQueuedEvents,
    max_queued_bytes: o.sseMaxQueuedBytes,
    log_rows: log.rows,
    log_head_seq: log.head,
    log_deleted_by_retention: log.deletedByRetention,
  }));
  // Per subscriber: its queue, the response's writable buffer (the stream high-water mark, 64 KiB on
  // Node 22+, plus the frame that crossed it: one event, whose largest kind is a tool result), ~4 KiB of objects.
  const hwm = getDefaultHighWaterMark(false);
  const perSubscriber = o.sseMaxQueuedBytes + hwm + o.agentMaxToolResultBytes + 4 * 1024;
  ctx.observe.addBudget('stream', o.maxSseConnections * perSubscriber, `max SSE connections × (max queued bytes + ${hwm / 1024} KiB write buffer + one max-size event + 4 KiB)`);
  ctx.onShutdown(() => {
    const n = hub.closeAll('shutdown');
    if (n) ctx.log.info({ subscribers: n }, '/stream subscribers told to reconnect later');
  });

  // No automatic HEAD route: a HEAD would take a subscriber slot for a response that can carry no events.
  app.get('/stream', { exposeHeadRoute: false }, async (req, reply) => {
    const parsed = streamQuery.safeParse(req.query ?? {});
    if (!parsed.success) throw new KeelError(400, 'invalid_request', `query: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const after = resumePoint(req.headers['last-event-id'], parsed.data.from);
    if (after === null) throw new KeelError(400, 'invalid_request', 'Last-Event-ID and ?from= must be a sequence number (a non-negative integer) from a previous event.');
    if (hub.isClosing) throw new KeelError(503, 'shutting_down', 'Keel is shutting down; reconnect in a moment.');
    const slot = limiter.acquire(); // over --max-sse-connections: 503 too_many_connections
    // From here on the response belongs to the hub; a client that leaves fires 'close' on it.
    reply.hijack();
    // Fastify's 'finish'/'error' listeners keep its per-request objects (Request, Reply, a child
    // logger, params: ~1 KiB) alive until the response ends — up to --sse-max-lifetime-ms, times
    // thousands of idle subscribers. Drop them: they only run onResponse hooks and request logging,
    // and no onResponse hook concerns a stream (the one in http/server.ts is for refused upgrades).
    const res = reply.raw;
    for (const event of ['finish', 'error'] as const) for (const l of res.listeners(event)) res.removeListener(event, l as () => void);
    try {
      hub.subscribe(res, { after, sessionId: parsed.data.session, slot });
    } catch (err) {
      slot.dispose();
      req.log.warn({ err }, '/stream subscribe failed');
      res.destroy();
    }
    return reply;
  });
}

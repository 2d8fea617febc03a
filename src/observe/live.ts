/** /debug/live: a WebSocket that pushes a memory sample to the dashboard every sample interval. */
import type { FastifyInstance } from 'fastify';
import { connectionLimiter, type KeelContext } from '../context.ts';
import { CloseCode } from '../core/errors.ts';
import { refuseWhenFull, acquireOrClose, closeWith, keepAlive, socketScope } from '../http/ws.ts';
import { storageOfContext } from '../store/db.ts';
import { memoryReport } from './memory-report.ts';

/**
 * A viewer whose socket has this much unsent data gets no new sample until it drains: each sample
 * supersedes the previous one, so skipping is lossless for a "latest value" feed.
 */
export const LIVE_MAX_BUFFERED_BYTES = 64 * 1024;
/** Ping interval for dashboard sockets. */
export const LIVE_PING_MS = 30_000;

export function registerLive(app: FastifyInstance, ctx: KeelContext): void {
  const limiter = connectionLimiter(ctx, 'live_viewers', ctx.options.maxLiveViewers, '--max-live-viewers');
  const sockets = new Set<import('ws').WebSocket>();
  ctx.observe.addBudget('live', ctx.options.maxLiveViewers * (LIVE_MAX_BUFFERED_BYTES + ctx.options.maxWsFrameBytes), 'max live viewers × (send buffer cap + largest inbound frame)');

  ctx.onShutdown(() => {
    for (const s of sockets) closeWith(s, CloseCode.goingAway, 'Keel is shutting down');
  });

  app.get('/debug/live', { websocket: true, onRequest: refuseWhenFull(limiter) }, (socket) => {
    const slot = acquireOrClose(socket, limiter);
    if (!slot) return;
    const scope = socketScope(socket);
    scope.add(slot);
    sockets.add(socket);
    scope.add({ dispose: () => sockets.delete(socket) });
    scope.add(keepAlive(socket, LIVE_PING_MS));
    const push = () => {
      if (socket.bufferedAmount > LIVE_MAX_BUFFERED_BYTES) return;
      const r = memoryReport(ctx);
      // Worker heaps are asynchronous to read: this sample shows the last answer, the next one this.
      void ctx.observe.refreshMemoryParts();
      socket.send(JSON.stringify({ type: 'sample', sample: ctx.health.history().at(-1) ?? null, memory: r.memory, connections: r.connections, health: r.health, handles: r.handles, storage: r.storage }));
    };
    // The UI's storage banner should not wait for the next sample: push when the state changes.
    const storage = storageOfContext(ctx);
    if (storage) scope.add(storage.subscribe(push));
    socket.on('message', () => {
      // The feed is one-way; inbound frames are size-capped by maxPayload and otherwise ignored.
    });
    push();
    scope.add(ctx.clock.setInterval(push, ctx.options.healthSampleMs));
  });
}

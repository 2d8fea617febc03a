/** /healthz, /readyz, /metrics, /debug/ index, /debug/memory, /debug/pprof/heap, /debug/heapsnapshot. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import v8 from 'node:v8';
import type { FastifyInstance } from 'fastify';
import type { KeelContext } from '../context.ts';
import { toDisposable, type Disposable } from '../core/lifecycle.ts';
import { sendError } from '../http/errors.ts';
import { IdleCollector } from './idle-gc.ts';
import { storageOfContext } from '../store/db.ts';
import { memoryReport } from './memory-report.ts';
import { createMetrics } from './metrics.ts';

const ENDPOINTS: [string, string, string][] = [
  ['GET', '/debug/memory', 'Memory, connections, handles, event-loop lag, budget, subsystems, recent cleanups (JSON)'],
  ['GET', '/debug/health/history', 'Bounded history of memory samples (JSON)'],
  ['GET', '/debug/live', 'WebSocket: a memory sample every sample interval'],
  ['GET', '/debug/pprof/heap', 'Sampling heap profile, pprof format (gzipped protobuf): go tool pprof -http=: <url>. The first request starts the profiler (?seconds=N waits N s before answering)'],
  ['POST', '/debug/heapsnapshot', 'Write a V8 heap snapshot to <data-dir>/heapsnapshots (owner only, guarded by free memory)'],
  ['GET', '/metrics', 'Prometheus metrics'],
  ['GET', '/healthz', 'Liveness (no auth)'],
  ['GET', '/readyz', 'Readiness: 503 while shedding load (no auth)'],
];

// The sampling heap profiler is process-global: pprof.heap.start throws when it is already running
// and stop() ends it for everyone. Two Keels in one process (tests, embedding) used to crash at the
// second createKeel and lose the first one's profiler at the first close; holders are now counted.
//
// Started by the first /debug/pprof/heap request, not at start: the native addon and the sampling
// cost ~3.5 MB of RSS (measured at rest, Node 24) and a little time per sampled allocation, which
// a Keel nobody profiles should not pay. So a profile shows objects allocated since the first
// request: ask once (or with ?seconds=N), reproduce the growth, ask again.
type Pprof = typeof import('@datadog/pprof');
let pprofModule: Promise<Pprof> | undefined;
let heapProfilerHolders = 0;
async function holdHeapProfiler(intervalBytes: number): Promise<Disposable> {
  const pprof = await (pprofModule ??= import('@datadog/pprof'));
  if (heapProfilerHolders++ === 0) pprof.heap.start(intervalBytes, 64);
  return toDisposable(() => {
    if (--heapProfilerHolders === 0) pprof.heap.stop();
  });
}

/** Longest wait a profile request may ask for (?seconds=). */
export const MAX_PROFILE_WAIT_S = 60;

export function registerDebugRoutes(app: FastifyInstance, ctx: KeelContext): void {
  const metrics = createMetrics(ctx);
  ctx.owner.add(toDisposable(() => metrics.clear()));

  let profiler: Promise<Disposable> | undefined;
  const startProfiler = (): Promise<boolean> => {
    const started = !profiler;
    profiler ??= holdHeapProfiler(ctx.options.heapProfileIntervalBytes).then(
      (held) => ctx.owner.add(held),
      (err) => {
        profiler = undefined;
        throw err;
      },
    );
    return profiler.then(() => started);
  };
  if (ctx.options.idleGcMs > 0) {
    const idle = ctx.owner.add(
      new IdleCollector({
        intervalMs: ctx.options.idleGcMs,
        clock: ctx.clock,
        onCollect: (freed, ms) => ctx.log.debug({ freedBytes: freed, ms: Math.round(ms) }, 'idle garbage collection'),
      }),
    );
    ctx.observe.addSubsystem('idle_gc', () => ({ runs: idle.runs }));
  }
  ctx.observe.addSubsystem('heap_profiler', () => ({ running: profiler ? 1 : 0, interval_bytes: ctx.options.heapProfileIntervalBytes }));
  ctx.observe.addSubsystem('http', () => app.keelHttp.stats());

  // Storage degraded (keel.db locked or full: writes kept in memory) is not a liveness or readiness
  // failure — Keel serves and loses nothing — so both stay 200 and say it.
  const storage = storageOfContext(ctx);
  app.get('/healthz', { config: { public: true } }, async () => (storage ? { status: 'ok', storage: storage.health().state } : { status: 'ok' }));
  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    if (ctx.health.shedding) {
      return sendError(reply, 503, 'overloaded', `Shedding load: memory is past the critical threshold (${ctx.options.memoryCriticalMb} MB RSS).`, { status: 'shedding' });
    }
    if (!storage) return { status: 'ready', health: ctx.health.state };
    const h = storage.health();
    return { status: 'ready', health: ctx.health.state, storage: { state: h.state, reason: h.reason, since: h.since, pending_writes: h.pending_writes } };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.metrics();
  });

  app.get('/debug', async (_req, reply) => {
    const rows = ENDPOINTS.map(([m, p, d]) => `<tr><td>${m}</td><td>${m === 'GET' && !p.endsWith('/live') ? `<a href="${p}">${p}</a>` : p}</td><td>${d}</td></tr>`).join('\n');
    reply.type('text/html; charset=utf-8');
    return `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Keel debug</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:60rem}td{padding:.3rem .8rem;border-bottom:1px solid #ddd;vertical-align:top}</style>
<h1>Keel debug endpoints</h1><table>${rows}</table>`;
  });

  app.get('/debug/memory', async () => {
    // Worker heaps are asked for now (an async round trip to each worker); /debug/live uses the last answer.
    await ctx.observe.refreshMemoryParts();
    return memoryReport(ctx);
  });
  app.get('/debug/health/history', async () => ({ samples: ctx.health.history(), capacity: ctx.options.healthHistorySamples }));

  app.get('/debug/pprof/heap', async (req, reply) => {
    if (ctx.options.heapProfileIntervalBytes <= 0) {
      return sendError(reply, 404, 'profiling_disabled', 'The heap profiler is off (option --heap-profile-interval-bytes is 0).');
    }
    const raw = (req.query as { seconds?: unknown }).seconds;
    const seconds = raw === undefined ? 0 : Number(raw);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_PROFILE_WAIT_S) {
      return sendError(reply, 400, 'invalid_request', `seconds: must be a whole number from 0 to ${MAX_PROFILE_WAIT_S}.`);
    }
    const startedNow = await startProfiler();
    if (seconds > 0) await new Promise((r) => setTimeout(r, seconds * 1000));
    const pprof = await pprofModule!;
    const profile = pprof.heap.profile();
    const buf = await pprof.encode(profile);
    reply.type('application/octet-stream').header('Content-Disposition', 'attachment; filename="heap.pb.gz"');
    // The profile covers allocations since the profiler started: say so when that was just now.
    if (startedNow) reply.header('X-Keel-Profiler', 'started by this request; ask again for allocations since');
    return Buffer.from(buf);
  });

  let snapshotting = false;
  app.post('/debug/heapsnapshot', async (req, reply) => {
    if (req.principal?.role !== 'owner') return sendError(reply, 403, 'owner_only', 'Only the owner (full access token) may write heap snapshots.');
    if (ctx.options.maxHeapSnapshots <= 0) return sendError(reply, 404, 'heapsnapshot_disabled', 'Heap snapshots are off (option --max-heap-snapshots is 0).');
    if (snapshotting) return sendError(reply, 409, 'busy', 'A heap snapshot is being written; wait for it to finish.');
    // Writing a snapshot needs roughly the heap's size again in memory; refuse rather than risk the OOM killer.
    const heap = v8.getHeapStatistics();
    const need = heap.used_heap_size * 2;
    const free = os.freemem();
    if (need > free) {
      return sendError(reply, 507, 'insufficient_memory', `A heap snapshot needs about ${Math.round(need / 1048576)} MB free, and only ${Math.round(free / 1048576)} MB is. Try /debug/pprof/heap instead.`);
    }
    snapshotting = true;
    try {
      // A heap snapshot holds everything in memory: the access token, terminal screens, documents.
      // Owner-only like the token file: 0700 directory (also when it existed before), 0600 files.
      const dir = path.join(ctx.options.dataDir, 'heapsnapshots');
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.chmodSync(dir, 0o700);
      const existing = fs.readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).sort();
      while (existing.length >= ctx.options.maxHeapSnapshots) {
        const old = existing.shift()!;
        fs.rmSync(path.join(dir, old), { force: true });
        ctx.audit.record('debug', 'delete', `heap snapshot ${old} removed (max ${ctx.options.maxHeapSnapshots})`);
      }
      const file = path.join(dir, `keel-${new Date(ctx.clock.now()).toISOString().replace(/[:.]/g, '-')}.heapsnapshot`);
      // Not v8.writeHeapSnapshot: it creates the file with the process umask (0644 here).
      await pipeline(v8.getHeapSnapshot(), fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
      const bytes = fs.statSync(file).size;
      ctx.log.info({ file, bytes }, 'heap snapshot written');
      return reply.code(201).send({ path: file, bytes });
    } finally {
      snapshotting = false;
    }
  });
}

/** Builds the /debug/memory document from the process, the health monitor and the registry. */
import type { KeelContext } from '../context.ts';
import { storageOfContext } from '../store/db.ts';

const MB = 1024 * 1024;
const mb = (n: number) => Math.round((n / MB) * 10) / 10;

/**
 * Headroom for V8's young generation, which grows from ~1 MB to its cap (2 × 16 MB semi-spaces
 * on 64-bit) under allocation load and stays there: RSS growth that is not a leak (bench/http).
 */
export const V8_YOUNG_GENERATION_BYTES = 32 * MB;

/** RSS once the server is built, before any client: Node, V8, loaded modules. Set by createKeel. */
let baselineRss = 0;
export function recordBaselineRss(): void {
  baselineRss = process.memoryUsage().rss;
}

export function budgetReport(ctx: KeelContext) {
  const budgets = ctx.observe.budgets();
  const runtime = baselineRss + V8_YOUNG_GENERATION_BYTES;
  const by: Record<string, number> = { runtime: mb(runtime) };
  const notes: Record<string, string> = { runtime: 'RSS measured at start (Node, V8, modules) + 32 MB young-generation headroom' };
  for (const [name, b] of Object.entries(budgets)) {
    by[name] = mb(b.bytes);
    notes[name] = b.note;
  }
  return { worst_case_mb: mb(runtime + ctx.observe.budgetTotalBytes()), by_subsystem: by, notes };
}

export function memoryReport(ctx: KeelContext) {
  const m = ctx.health.readMemory();
  const connections: Record<string, number> = {};
  for (const c of ctx.observe.connections()) {
    connections[c.name] = c.count();
    connections[`max_${c.name}`] = c.max;
  }
  const resources = process.getActiveResourcesInfo();
  const byType: Record<string, number> = {};
  for (const r of resources) byType[r] = (byType[r] ?? 0) + 1;
  return {
    memory: {
      // alloc_mb / sys_mb keep the names existing watch scripts read (Go-style); they map to heap used and RSS.
      alloc_mb: mb(m.heapUsed),
      heap_alloc_mb: mb(m.heapUsed),
      heap_total_mb: mb(m.heapTotal),
      sys_mb: mb(m.rss),
      rss_mb: mb(m.rss),
      external_mb: mb(m.external),
      array_buffers_mb: mb(m.arrayBuffers),
    },
    connections,
    handles: resources.length,
    handles_by_type: byType,
    event_loop: { lag_p99_ms: ctx.health.lastLagMs },
    uptime_s: Math.round(process.uptime()),
    health: {
      state: ctx.health.state,
      shedding: ctx.health.shedding,
      ...ctx.health.thresholds,
      trim_runs: ctx.health.trimRuns,
    },
    storage: storageOfContext(ctx)?.health(),
    budget: budgetReport(ctx),
    subsystems: ctx.observe.subsystems(),
    audit: { total: ctx.audit.total, recent: ctx.audit.entries() },
  };
}

/** Builds the /debug/memory document from the process, the health monitor and the registry. */
import fs from 'node:fs';
import v8 from 'node:v8';
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

/** RSS split as the kernel counts it (Linux; null elsewhere). */
export function readProcessRss(): { rss: number; anon: number; file: number } | null {
  let status: string;
  try {
    status = fs.readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const rss = kb('VmRSS');
  if (!rss) return null;
  // Shared memory (RssShmem) is file-like: mapped, not private to Keel.
  return { rss, anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

const CODE_SPACES = new Set(['code_space', 'code_large_object_space']);

/**
 * Where RSS sits, in bytes; the parts add up to `rss`:
 * - heap: the main thread's V8 heap (physical pages, without code);
 * - code: machine code V8 compiled (its code spaces);
 * - array_buffers: Buffer and ArrayBuffer contents (PTY output, socket frames);
 * - workers: the V8 heaps of worker threads (terminal mirrors, documents), the sum of `parts`;
 * - binaries: pages mapped from files (Node's executable, shared libraries, native addons): shared
 *   and clean, the kernel can drop them and read them again;
 * - other: the rest of the private memory: malloc (V8's compiler zones, SQLite, libuv, Node's own
 *   structures), thread stacks, and memory freed but not yet returned to the system.
 */
export function memoryBreakdown(parts: Record<string, number> = {}, mu: Pick<NodeJS.MemoryUsage, 'rss' | 'arrayBuffers'> = process.memoryUsage()) {
  const proc = readProcessRss();
  let heap = 0;
  let code = 0;
  for (const sp of v8.getHeapSpaceStatistics()) {
    if (CODE_SPACES.has(sp.space_name)) code += sp.physical_space_size;
    else heap += sp.physical_space_size;
  }
  const rss = proc?.rss ?? mu.rss;
  const binaries = proc?.file ?? 0;
  const anon = proc ? proc.anon : rss;
  // Every registered part is a worker isolate's heap (terminal mirrors, the document worker).
  const workers = Object.values(parts).reduce((n, b) => n + b, 0);
  const arrayBuffers = mu.arrayBuffers;
  // Clamped: pages V8 committed but the kernel has not made resident yet can make the sum overshoot.
  const other = Math.max(0, anon - heap - code - arrayBuffers - workers);
  return { rss, heap, code, array_buffers: arrayBuffers, workers, binaries, other };
}

export function memoryReport(ctx: KeelContext) {
  const m = ctx.health.readMemory();
  // One process.memoryUsage() per report: it walks the heap's spaces and reads RSS each time.
  const b = memoryBreakdown(ctx.observe.memoryParts(), m);
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
      breakdown: {
        rss_mb: mb(b.rss),
        heap_mb: mb(b.heap),
        code_mb: mb(b.code),
        array_buffers_mb: mb(b.array_buffers),
        workers_mb: mb(b.workers),
        binaries_mb: mb(b.binaries),
        other_mb: mb(b.other),
      },
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

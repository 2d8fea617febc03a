/** Shapes of /debug/memory, /debug/health/history and /debug/live (DESIGN.md "Observability"). */
export type HealthState = 'ok' | 'warning' | 'critical';

export interface HealthSample {
  t: number;
  rss_mb: number;
  heap_mb: number;
  external_mb: number;
  lag_ms: number;
  connections: number;
  state: HealthState;
}

/** Where RSS sits: the parts add up to `rss_mb` (src/observe/memory-report.ts). */
export interface MemoryBreakdown {
  rss_mb: number;
  heap_mb: number;
  code_mb: number;
  array_buffers_mb: number;
  workers_mb: number;
  binaries_mb: number;
  other_mb: number;
}

export interface MemoryNumbers {
  rss_mb: number;
  heap_alloc_mb: number;
  heap_total_mb?: number;
  external_mb: number;
  array_buffers_mb?: number;
  breakdown?: MemoryBreakdown;
}

/** The breakdown's parts in display order, with what each one is. */
export const BREAKDOWN_PARTS: [keyof MemoryBreakdown, string, string][] = [
  ['heap_mb', 'JS heap', "The main thread's V8 heap: JavaScript objects, strings, bytecode"],
  ['code_mb', 'JIT code', 'Machine code V8 compiled from JavaScript'],
  ['array_buffers_mb', 'buffers', 'Buffer and ArrayBuffer contents: PTY output, socket frames'],
  ['workers_mb', 'workers', 'V8 heaps of worker threads (terminal mirrors; stopped when no terminal is open)'],
  ['binaries_mb', 'binaries', "Node's executable, shared libraries and native addons, mapped from disk (shared, and the kernel can drop them)"],
  ['other_mb', 'other', 'malloc (compiler zones, SQLite, Node), thread stacks, memory freed but not yet returned'],
];

export interface HealthInfo {
  state: HealthState;
  shedding: boolean;
  warn_mb: number;
  critical_mb: number;
  trim_runs?: number;
}

export interface AuditEntry {
  at: string;
  kind: string;
  subsystem: string;
  detail: string;
}

/** Whether keel.db takes writes (src/store/writer.ts): while `degraded`, they are kept in memory. */
export interface StorageInfo {
  state: 'ok' | 'degraded';
  reason: string;
  problem: 'locked' | 'full' | 'io' | null;
  since: number | null;
  pending_writes: number;
  pending_bytes: number;
}

export interface MemoryReport {
  memory: MemoryNumbers;
  connections: Record<string, number>;
  handles: number;
  event_loop?: { lag_p99_ms: number };
  uptime_s?: number;
  health: HealthInfo;
  budget?: { worst_case_mb: number; by_subsystem: Record<string, number>; notes?: Record<string, string> };
  subsystems?: Record<string, Record<string, number | string | boolean>>;
  audit?: { total: number; recent: AuditEntry[] };
  storage?: StorageInfo;
}

export interface LiveMessage {
  type: 'sample';
  sample: HealthSample | null;
  memory: MemoryNumbers;
  connections: Record<string, number>;
  health: HealthInfo;
  handles: number;
  storage?: StorageInfo;
}

/** Connection kinds with their limit: every key `k` that has a `max_k` beside it. */
export function connectionKinds(c: Record<string, number>): { kind: string; count: number; max: number }[] {
  const out: { kind: string; count: number; max: number }[] = [];
  for (const [k, v] of Object.entries(c)) {
    if (k.startsWith('max_')) continue;
    const max = c[`max_${k}`];
    out.push({ kind: k, count: v, max: typeof max === 'number' ? max : NaN });
  }
  return out;
}

/** "terminal_sessions" → "terminal sessions". */
export function humanize(key: string): string {
  return key.replace(/_/g, ' ');
}

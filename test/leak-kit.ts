/**
 * Leak-test kit: runs a scenario N times in a child process started with `--expose-gc`, measures the
 * process before and after, and asserts that nothing grew. Reuse it for any subsystem (terminals,
 * SSE, chat, documents): write a scenario module, then one test.
 *
 * ## A scenario
 *
 * A module (TypeScript is fine) exporting:
 *
 *   export async function setup(params) {}   // start what the cycles need (a Keel, sockets held open…)
 *   export async function cycle(i) {}        // one unit of work; MUST wait until its connections are
 *                                            // fully closed on the client side before resolving
 *   export async function teardown() {}      // release everything setup made
 *   export async function settle() {}        // optional: wait for server-side quiescence before a
 *                                            // measurement (e.g. "open HTTP connections back to 0")
 *   export function measure() { return { viewers: map.size } }  // optional: extra numbers (map sizes)
 *
 * `params` is the JSON value given as `params` to `runLeakScenario`. Helpers from `test/helpers.ts`
 * (startKeel, request, openWs, waitFor) work inside a scenario.
 *
 * ## What happens
 *
 *   child: setup(params) → warmup cycles → settle → snapshot "before"
 *          → half the cycles → settle → heap reading "mid" → the other half
 *          → settle → snapshot "after" → teardown → report → exits on its own
 *
 * A snapshot forces GC (`gc()` repeated with a macrotask between calls until heap used is stable)
 * and reads:
 *   - heapUsed: `process.memoryUsage().heapUsed` after GC, in bytes;
 *   - handles:  `process.getActiveResourcesInfo()`, total and counts by type;
 *   - fds:      entries of `/proc/self/fd`, total and by kind (socket, pipe, anon_inode:…, file);
 *   - children / zombies: processes whose parent is the child (from `/proc/<pid>/stat`), and how
 *     many of them are zombies (state Z);
 *   - extra: whatever the scenario's `measure()` returns.
 * Handles and fds are read until two consecutive reads agree (bounded), so a socket that is closing
 * right at the measurement does not make the test flaky.
 *
 * After teardown the child disconnects its IPC channel and must exit by itself; if something still
 * holds the event loop it is killed after `exitTimeoutMs` and the report says so (`exitedOnItsOwn`,
 * `resourcesAfterTeardown`).
 *
 * ## In a test
 *
 *   const report = await runLeakScenario({ scenario: new URL('./scenarios/http.ts', import.meta.url), cycles: 5000, warmup: 200 });
 *   assertLeakBounds(report, { heapBytes: 1024 * 1024 });   // handles, fds, children, zombies, extras: exactly 0 by default
 *
 * `report.heapSecondHalf` (after − mid) separates a leak from warm-up: a leak grows in both halves
 * alike; JIT code and inline caches grow early and then stop. Bound it with `heapSecondHalfBytes`.
 * Use a warm-up of several hundred cycles: the first few hundred cost ~0.5 MB of heap that stays.
 *
 * `assertLeakBounds` throws an AssertionError whose message is the whole before/after table, with
 * the handle and fd types that changed. `formatLeakReport(report)` gives the same table for logs.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface LeakSnapshot {
  /** Heap used after forced GC, bytes. */
  heapUsed: number;
  /** Whether GC reached a stable heap size within its bounded number of rounds. */
  heapStable: boolean;
  handles: number;
  handlesByType: Record<string, number>;
  fds: number;
  fdsByType: Record<string, number>;
  children: number;
  zombies: number;
  /** `measure()` of the scenario. */
  extra: Record<string, number>;
}

export interface LeakDelta {
  heapUsed: number;
  handles: number;
  fds: number;
  children: number;
  zombies: number;
  extra: Record<string, number>;
  handlesByType: Record<string, number>;
  fdsByType: Record<string, number>;
}

export interface LeakReport {
  scenario: string;
  cycles: number;
  warmup: number;
  before: LeakSnapshot;
  /** Heap used after GC halfway through the measured cycles. */
  midHeapUsed: number;
  after: LeakSnapshot;
  delta: LeakDelta;
  /** Heap growth per measured cycle, bytes (delta.heapUsed / cycles). */
  heapPerCycle: number;
  /**
   * Heap growth over the second half of the cycles only (after − mid). A real leak grows here as
   * much as in the first half; warm-up effects (JIT code, inline caches) do not.
   */
  heapSecondHalf: number;
  /** Wall time of the measured cycles (for information only; never assert on it). */
  cyclesMs: number;
  /** Whether the child exited by itself after teardown (nothing held its event loop). */
  exitedOnItsOwn: boolean;
  /** Active resources right after teardown (what held the loop when `exitedOnItsOwn` is false). */
  resourcesAfterTeardown: string[];
}

export interface LeakRunOptions {
  /** The scenario module (file URL or path). */
  scenario: URL | string;
  /** Measured cycles. */
  cycles: number;
  /** Cycles run before the baseline is taken (JIT, lazy modules, caches). Default 100. */
  warmup?: number;
  /** Cycles run at once (each with its own index). Default 1. */
  concurrency?: number;
  /** JSON-serialisable value passed to `setup(params)`. */
  params?: unknown;
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /** Extra node flags for the child (`--expose-gc` is always there). */
  execArgv?: string[];
  /** Whole run, child start to report. Default 240 s. */
  timeoutMs?: number;
  /** How long the child may take to exit by itself after teardown. Default 10 s. */
  exitTimeoutMs?: number;
}

export interface LeakBounds {
  /** Largest heap growth allowed, bytes. Default 1 MiB. */
  heapBytes?: number;
  /** Largest heap growth over the second half of the cycles, bytes. Default: no bound. */
  heapSecondHalfBytes?: number;
  /** Largest growth in active handles/resources. Default 0. */
  handles?: number;
  /** Largest growth in open fds. Default 0. */
  fds?: number;
  /** Largest growth in child processes / zombies. Default 0. */
  children?: number;
  zombies?: number;
  /** Largest growth per `measure()` key; keys not listed must not grow at all. */
  extra?: Record<string, number>;
  /** Require the child to exit by itself after teardown. Default true. */
  exitOnItsOwn?: boolean;
}

/** Messages from the child. */
export type ChildMessage =
  | { type: 'report'; report: Omit<LeakReport, 'exitedOnItsOwn' | 'delta' | 'heapPerCycle' | 'heapSecondHalf'> }
  | { type: 'error'; message: string; stack?: string }
  | { type: 'phase'; phase: string };

const CHILD = fileURLToPath(new URL('./leak-child.ts', import.meta.url));

/** Runs a scenario in a fresh `node --expose-gc` child and returns its before/after measurements. */
export function runLeakScenario(opts: LeakRunOptions): Promise<LeakReport> {
  const scenario = typeof opts.scenario === 'string' ? opts.scenario : fileURLToPath(opts.scenario);
  if (!fs.existsSync(scenario)) return Promise.reject(new Error(`leak scenario not found: ${scenario}`));
  const config = {
    scenario,
    cycles: opts.cycles,
    warmup: opts.warmup ?? 100,
    concurrency: Math.max(1, opts.concurrency ?? 1),
    params: opts.params ?? null,
  };
  const timeoutMs = opts.timeoutMs ?? 240_000;
  const exitTimeoutMs = opts.exitTimeoutMs ?? 10_000;

  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [JSON.stringify(config)], {
      // Not process.execArgv: the test runner's own flags must not leak into the child.
      execArgv: ['--expose-gc', ...(opts.execArgv ?? [])],
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let output = '';
    // Keep only the tail: a chatty scenario must not grow the parent either.
    const keep = (c: Buffer) => {
      output = (output + c.toString('utf8')).slice(-8_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);

    let report: Extract<ChildMessage, { type: 'report' }>['report'] | undefined;
    let failure: Error | undefined;
    let exitTimer: NodeJS.Timeout | undefined;
    let killedForExit = false;

    const overall = setTimeout(() => {
      failure = new Error(`leak scenario ${scenario} did not finish within ${timeoutMs} ms (stuck in: ${phase})`);
      child.kill('SIGKILL');
    }, timeoutMs);

    let phase = 'starting';
    child.on('message', (msg: ChildMessage) => {
      if (msg.type === 'phase') phase = msg.phase;
      else if (msg.type === 'report') {
        report = msg.report;
        // From here the child has disconnected and must exit by itself.
        exitTimer = setTimeout(() => {
          killedForExit = true;
          child.kill('SIGKILL');
        }, exitTimeoutMs);
      } else {
        failure = new Error(`leak scenario ${scenario} failed in the child during ${phase}: ${msg.stack ?? msg.message}`);
      }
    });
    child.on('error', (err) => {
      failure ??= err;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(overall);
      clearTimeout(exitTimer);
      if (failure) return reject(withOutput(failure, output));
      if (!report) {
        // Code 0 without a report: the event loop emptied while the scenario awaited a promise that
        // nothing could settle any more (e.g. a close that waits for a socket nobody will close).
        const why = code === 0 ? ' — its event loop emptied while a step was still pending' : '';
        return reject(withOutput(new Error(`leak child exited (code ${code}, signal ${signal}) without a report, during: ${phase}${why}`), output));
      }
      if (!killedForExit && code !== 0) return reject(withOutput(new Error(`leak child exited with code ${code} after its report`), output));
      resolve(complete(report, !killedForExit));
    });
  });
}

function withOutput(err: Error, output: string): Error {
  if (output.trim()) err.message += `\n--- child output (tail) ---\n${output.trim()}`;
  return err;
}

function diffCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

function complete(r: Omit<LeakReport, 'exitedOnItsOwn' | 'delta' | 'heapPerCycle' | 'heapSecondHalf'>, exitedOnItsOwn: boolean): LeakReport {
  const { before, after } = r;
  const extra: Record<string, number> = {};
  for (const k of new Set([...Object.keys(before.extra), ...Object.keys(after.extra)])) extra[k] = (after.extra[k] ?? 0) - (before.extra[k] ?? 0);
  const delta: LeakDelta = {
    heapUsed: after.heapUsed - before.heapUsed,
    handles: after.handles - before.handles,
    fds: after.fds - before.fds,
    children: after.children - before.children,
    zombies: after.zombies - before.zombies,
    extra,
    handlesByType: diffCounts(before.handlesByType, after.handlesByType),
    fdsByType: diffCounts(before.fdsByType, after.fdsByType),
  };
  return { ...r, delta, heapPerCycle: r.cycles > 0 ? delta.heapUsed / r.cycles : 0, heapSecondHalf: after.heapUsed - r.midHeapUsed, exitedOnItsOwn };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const signed = (n: number, f: (n: number) => string = String) => (n > 0 ? `+${f(n)}` : n < 0 ? `-${f(-n)}` : f(0));

/** A readable before/after table of a report. */
export function formatLeakReport(r: LeakReport): string {
  const rows: [string, string, string, string][] = [
    ['heap used (after GC)', kb(r.before.heapUsed), kb(r.after.heapUsed), signed(r.delta.heapUsed, kb)],
    ['  of it, 2nd half of cycles', kb(r.midHeapUsed), kb(r.after.heapUsed), signed(r.heapSecondHalf, kb)],
    ['active handles', String(r.before.handles), String(r.after.handles), signed(r.delta.handles)],
    ['open fds', String(r.before.fds), String(r.after.fds), signed(r.delta.fds)],
    ['child processes', String(r.before.children), String(r.after.children), signed(r.delta.children)],
    ['zombies', String(r.before.zombies), String(r.after.zombies), signed(r.delta.zombies)],
  ];
  for (const [k, d] of Object.entries(r.delta.extra)) rows.push([`extra: ${k}`, String(r.before.extra[k] ?? '-'), String(r.after.extra[k] ?? '-'), signed(d)]);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['metric', 'before', 'after', 'delta'][i]!.length));
  const line = (c: string[]) => c.map((s, i) => (i === 0 ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join('  ');
  const out = [
    `leak scenario ${r.scenario}: ${r.cycles} cycles after ${r.warmup} warm-up (${r.cyclesMs} ms, ${r.heapPerCycle.toFixed(1)} B/cycle)`,
    line(['metric', 'before', 'after', 'delta']),
    ...rows.map(line),
  ];
  if (Object.keys(r.delta.handlesByType).length) out.push(`handles changed by type: ${JSON.stringify(r.delta.handlesByType)}`);
  if (Object.keys(r.delta.fdsByType).length) out.push(`fds changed by kind: ${JSON.stringify(r.delta.fdsByType)}`);
  if (!r.before.heapStable || !r.after.heapStable) out.push('note: heap did not fully stabilise under forced GC');
  out.push(r.exitedOnItsOwn ? 'child exited on its own after teardown' : `child did NOT exit on its own after teardown; active then: ${JSON.stringify(r.resourcesAfterTeardown)}`);
  return out.join('\n');
}

/** Throws an AssertionError with the full table when any measurement is past its bound. */
export function assertLeakBounds(r: LeakReport, bounds: LeakBounds = {}): void {
  const b = { heapBytes: 1024 * 1024, handles: 0, fds: 0, children: 0, zombies: 0, exitOnItsOwn: true, ...bounds };
  const failures: string[] = [];
  if (r.delta.heapUsed > b.heapBytes) failures.push(`heap grew by ${kb(r.delta.heapUsed)} (bound ${kb(b.heapBytes)})`);
  if (b.heapSecondHalfBytes !== undefined && r.heapSecondHalf > b.heapSecondHalfBytes) {
    failures.push(`heap grew by ${kb(r.heapSecondHalf)} over the second half of the cycles (bound ${kb(b.heapSecondHalfBytes)})`);
  }
  if (r.delta.handles > b.handles) failures.push(`active handles grew by ${r.delta.handles} (bound ${b.handles})`);
  if (r.delta.fds > b.fds) failures.push(`open fds grew by ${r.delta.fds} (bound ${b.fds})`);
  if (r.delta.children > b.children) failures.push(`child processes grew by ${r.delta.children} (bound ${b.children})`);
  if (r.delta.zombies > b.zombies) failures.push(`zombies grew by ${r.delta.zombies} (bound ${b.zombies})`);
  for (const [k, d] of Object.entries(r.delta.extra)) {
    const limit = b.extra?.[k] ?? 0;
    if (d > limit) failures.push(`${k} grew by ${d} (bound ${limit})`);
  }
  if (b.exitOnItsOwn && !r.exitedOnItsOwn) failures.push('the child did not exit on its own after teardown (something still holds the event loop)');
  if (failures.length) assert.fail(`leak bounds exceeded: ${failures.join('; ')}\n${formatLeakReport(r)}`);
}

/** Asserts handles and fds are exactly at baseline (not lower either: a lower count means the baseline was taken mid-close). */
export function assertExactHandles(r: LeakReport): void {
  if (r.delta.handles !== 0 || r.delta.fds !== 0) {
    assert.fail(`handles/fds not exactly at baseline (handles ${signed(r.delta.handles)}, fds ${signed(r.delta.fds)})\n${formatLeakReport(r)}`);
  }
}

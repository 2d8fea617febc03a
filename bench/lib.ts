/**
 * Shared benchmark plumbing: start Keel in its own process, read its RSS, compute percentiles,
 * and the result shape that `bench/run.ts` prints as a table and writes as JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchRow {
  metric: string;
  value: number;
  unit: string;
  /** The target as text (e.g. "<= 2 MB"), and whether the value meets it. */
  target?: string;
  ok?: boolean;
}

export interface BenchResult {
  name: string;
  rows: BenchRow[];
  notes?: string[];
}

export function row(metric: string, value: number, unit: string, target?: { op: '<=' | '>=' | '<'; limit: number }): BenchRow {
  const r: BenchRow = { metric, value: Math.round(value * 1000) / 1000, unit };
  if (target) {
    r.target = `${target.op} ${target.limit} ${unit}`;
    r.ok = target.op === '<=' ? value <= target.limit : target.op === '<' ? value < target.limit : value >= target.limit;
  }
  return r;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface KeelProcess {
  base: string;
  token: string;
  pid: number;
  child: ChildProcess;
  /** RSS of the server process in bytes, from /proc. */
  rss(): number;
  get(pathname: string): Promise<any>;
  stop(): Promise<void>;
}

/**
 * Starts `node src/cli.ts --port 0` in a temp data dir (or `dataDir`), resolves once it prints its
 * URL. `entry: 'bin'` runs `bin/keel.js` instead: the built server, as users run it.
 */
export async function startKeel(args: string[] = [], opts: { dataDir?: string; nodeArgs?: string[]; timeoutMs?: number; entry?: 'src' | 'bin' } = {}): Promise<KeelProcess> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-'));
  const entry = path.join(ROOT, opts.entry === 'bin' ? 'bin/keel.js' : 'src/cli.ts');
  const { child, match } = await startServerProcess([...(opts.nodeArgs ?? []), entry, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args], /Open:\s+(\S+)/, {
    what: 'keel',
    // /bin/sh unless told otherwise: an interactive login shell's rc files (pyenv, nvm, …) can take
    // seconds and would be measured as Keel's.
    env: { ...process.env, KEEL_TOKEN: '', KEEL_TERMINAL_SHELL: process.env.KEEL_TERMINAL_SHELL ?? '/bin/sh' },
    timeoutMs: opts.timeoutMs,
    tmpDir: opts.dataDir ? undefined : dataDir,
  });
  const u = new URL(match[1]!);
  const token = u.searchParams.get('token')!;
  const base = u.origin;
  return {
    base,
    token,
    pid: child.pid!,
    child,
    rss: () => rssOf(child.pid!),
    async get(pathname) {
      const r = await fetch(base + pathname, { headers: { authorization: `Bearer ${token}` } });
      return r.json();
    },
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await done;
      clearTimeout(t);
      if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * `node <args>` as a server in its own process, killed with this one (and its temporary directory
 * removed); resolves once its stdout matches `ready`, with the match.
 */
export async function startServerProcess(
  args: string[],
  ready: RegExp,
  opts: { what: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; tmpDir?: string },
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  reapOnExit(child, opts.tmpDir);
  let out = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.what} did not start in time:\n${out}`)), opts.timeoutMs ?? 30_000);
    const onErr = (d: Buffer) => (out += d.toString());
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onErr);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onErr);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${opts.what} exited with ${code}:\n${out}`));
    });
  });
  // Read on and dropped from here: a pipe nobody reads would block the server once full.
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, match };
}

/**
 * A benchmark that crashes or is interrupted must not leave its Keel running (it would skew every
 * later measurement on a 2-core machine): servers still alive when this process exits are killed.
 */
const live = new Map<ChildProcess, string | undefined>();
let reaperInstalled = false;
function reapOnExit(child: ChildProcess, tmpDir: string | undefined): void {
  live.set(child, tmpDir);
  child.once('exit', () => live.delete(child));
  if (reaperInstalled) return;
  reaperInstalled = true;
  const reap = () => {
    for (const [c, dir] of live) {
      c.kill('SIGKILL');
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once('exit', reap);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      reap();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** RSS and its anonymous / file-backed parts (bytes), from /proc/<pid>/status. */
export function rssPartsOf(pid: number): { rss: number; anon: number; file: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * /stream at scale: 2,000 then 10,000 concurrent idle subscribers (the server in its own process,
 * the clients in another, 127.0.0.1 only), then one ~200-byte event per second to all of them.
 * Reports delivery latency (append in the server → parsed in the client) p50/p99 at each size, the
 * server's fan-out time, and heap and RSS per subscriber as the marginal cost from 2,000 to 10,000
 * (after forced GC), for Keel and, as the reference, a bare node:http SSE server in the same harness.
 * See bench/stream-server.ts for how events get into the server's log (no test route in Keel).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, percentile, row, sleep, type BenchResult, type BenchRow } from './lib.ts';

const SIZES = [2_000, 10_000];
/**
 * V8 grows and shrinks its young generation with the allocation rate: a process-wide step of tens of
 * MB that lands between the two measurements or not, i.e. ±4 KiB "per subscriber" over 8,000 of
 * them, by chance. The measured servers therefore run with it fixed at 16 MB semi-spaces (the size a
 * busy server grows to anyway); one more Keel run without the flags is reported for information.
 */
const PINNED_YOUNG_GEN = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
const EVENTS_PER_SIZE = 10;
const EVENT_BYTES = 200;
const KiB = 1024;

/** Soft and hard limits on open files of this process (children inherit them). */
function fdLimits(): { soft: number; hard: number } {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

interface Proc {
  child: ChildProcess;
  ask<T>(msg: unknown, reply: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Forks a bench script. When the soft fd limit is below `fds`, it is raised for the child through
 * `sh -c 'ulimit -n …; exec node …'` (the IPC channel fd survives the exec).
 */
async function start(script: string, args: string[], nodeArgs: string[], fds: number): Promise<Proc> {
  const file = path.join(ROOT, 'bench', script);
  const { soft } = fdLimits();
  const child =
    soft >= fds
      ? fork(file, args, { execArgv: nodeArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : fork(file, args, {
          execPath: '/bin/sh',
          execArgv: ['-c', `ulimit -n ${fds} && exec "${process.execPath}" ${nodeArgs.join(' ')} "$0" "$@"`],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
  const waiting = new Map<string, (m: any) => void>();
  child.on('message', (m: { type: string }) => {
    const w = waiting.get(m.type);
    if (w) {
      waiting.delete(m.type);
      w(m);
    }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const proc: Proc = {
    child,
    ask(msg, reply, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${script}: no "${reply}" within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(reply, (m) => {
          clearTimeout(t);
          resolve(m);
        });
        if (msg) child.send(msg as object);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
  return proc;
}

interface Level {
  n: number;
  open: number;
  failed: number;
  heapUsed: number;
  rss: number;
  serverSubscribers: number;
  lat: number[];
  /** Server time from the append to every socket written (the server's share of the latency), per event. */
  fanout: number[];
  delivered: number;
}

async function runOne(mode: 'keel' | 'bare', sizes: number[], v8Flags: string[]): Promise<Level[]> {
  const fds = sizes[sizes.length - 1]! + 512;
  const server = await start('stream-server.ts', mode === 'bare' ? ['--bare'] : [], ['--expose-gc', ...v8Flags], fds);
  const ready = await server.ask<{ url: string; token: string }>(null, 'ready', 60_000);
  const clients = await start('stream-clients.ts', [], [], fds);
  await clients.ask(null, 'ready', 60_000);
  const levels: Level[] = [];
  try {
    let open = 0;
    let failed = 0;
    for (const n of sizes) {
      const o = await clients.ask<{ open: number; failed: number }>({ type: 'open', url: ready.url, token: ready.token, count: n - open - failed }, 'opened', 300_000);
      open += o.open;
      failed += o.failed;
      await sleep(2_000);
      const m = await server.ask<{ heapUsed: number; rss: number; subscribers: number }>({ type: 'measure' }, 'measured');
      await clients.ask({ type: 'collect' }, 'collected'); // drop whatever came before
      const fanout: number[] = [];
      for (let i = 0; i < EVENTS_PER_SIZE; i++) {
        const r = await server.ask<{ flushedMs: number }>({ type: 'inject', bytes: EVENT_BYTES }, 'injected');
        fanout.push(r.flushedMs);
        await sleep(1_000);
      }
      await sleep(500);
      const c = await clients.ask<{ latencies: number[] }>({ type: 'collect' }, 'collected');
      levels.push({ n, open, failed, heapUsed: m.heapUsed, rss: m.rss, serverSubscribers: m.subscribers, lat: c.latencies.sort((a, b) => a - b), fanout: fanout.sort((a, b) => a - b), delivered: c.latencies.length });
    }
  } finally {
    await clients.stop();
    await server.stop();
  }
  return levels;
}

function memoryRows(label: string, levels: Level[], targets: boolean): BenchRow[] {
  const rows: BenchRow[] = [];
  const [a, b] = [levels[0]!, levels[levels.length - 1]!];
  const added = b.serverSubscribers - a.serverSubscribers;
  rows.push(row(`${label}: heap per subscriber (marginal ${a.n}→${b.n})`, (b.heapUsed - a.heapUsed) / added / KiB, 'KiB', targets ? { op: '<=', limit: 6 } : undefined));
  rows.push(row(`${label}: RSS per subscriber (marginal ${a.n}→${b.n})`, (b.rss - a.rss) / added / KiB, 'KiB', targets ? { op: '<=', limit: 20 } : undefined));
  return rows;
}

function rowsFor(label: string, levels: Level[], targets: boolean): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const l of levels) {
    rows.push(row(`${label}: subscribers connected (of ${l.n})`, l.serverSubscribers, 'count', { op: '>=', limit: l.n }));
    rows.push(row(`${label}: events delivered @${l.n} (of ${EVENTS_PER_SIZE} × ${l.open})`, l.delivered, 'count', { op: '>=', limit: EVENTS_PER_SIZE * l.open }));
    rows.push(row(`${label}: delivery latency p50 @${l.n}`, percentile(l.lat, 50), 'ms'));
    rows.push(row(`${label}: delivery latency p99 @${l.n}`, percentile(l.lat, 99), 'ms', targets && l.n === 2_000 ? { op: '<', limit: 100 } : undefined));
    rows.push(row(`${label}: server fan-out (append → all written) median @${l.n}`, percentile(l.fanout, 50), 'ms'));
  }
  const b = levels[levels.length - 1]!;
  rows.push(...memoryRows(label, levels, targets));
  rows.push(row(`${label}: heap used @${b.n}`, b.heapUsed / (KiB * KiB), 'MB'));
  rows.push(row(`${label}: RSS @${b.n}`, b.rss / (KiB * KiB), 'MB'));
  return rows;
}

export default async function run(): Promise<BenchResult> {
  const notes: string[] = [];
  const { hard } = fdLimits();
  let sizes = SIZES;
  if (hard < SIZES[SIZES.length - 1]! + 512) {
    const max = Math.max(SIZES[0]! + 500, hard - 512);
    sizes = [SIZES[0]!, max];
    notes.push(`the hard limit on open files is ${hard}: the large size was reduced to ${max} subscribers (raise it with ulimit -Hn as root)`);
  }
  const keel = await runOne('keel', sizes, PINNED_YOUNG_GEN);
  const bare = await runOne('bare', sizes, PINNED_YOUNG_GEN);
  const unpinned = await runOne('keel', sizes, []);
  notes.push(`one ${EVENT_BYTES}-byte event per second, ${EVENTS_PER_SIZE} per size; latency = append in the server process → parsed by the client process (same clock); 2 processes on ${fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? '?'} cores`);
  notes.push('bare = a minimal node:http SSE server (Set of responses, one res.write per event) in the same harness, the reference for per-subscriber cost');
  notes.push(`keel and bare run with V8's young generation fixed (${PINNED_YOUNG_GEN.join(' ')}); "keel, default V8" is the same Keel without those flags, where young-generation resizing adds or removes tens of MB of RSS between the two measurements`);
  return {
    name: 'stream',
    rows: [...rowsFor('keel', keel, true), ...rowsFor('bare node:http', bare, false), ...memoryRows('keel, default V8', unpinned, false)],
    notes,
  };
}

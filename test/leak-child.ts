/**
 * The child side of the leak-test kit (see leak-kit.ts): started by `runLeakScenario` with
 * `--expose-gc` and a JSON config as argv[2]; runs the scenario, measures, reports over IPC, then
 * disconnects and must exit by itself.
 */
import fs from 'node:fs';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { ChildMessage, LeakSnapshot } from './leak-kit.ts';

interface Scenario {
  setup?(params: unknown): Promise<void> | void;
  cycle(i: number): Promise<void> | void;
  teardown?(): Promise<void> | void;
  settle?(): Promise<void> | void;
  measure?(): Record<string, number> | Promise<Record<string, number>>;
}

interface Config {
  scenario: string;
  cycles: number;
  warmup: number;
  concurrency: number;
  params: unknown;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('leak-child must run with --expose-gc');

/** Forces GC until heap used changes by less than 16 KiB twice in a row (at most 20 rounds). */
async function heapAfterGc(): Promise<{ heapUsed: number; stable: boolean }> {
  let prev = Infinity;
  let calm = 0;
  let last = 0;
  for (let round = 0; round < 20; round++) {
    gc!();
    // A macrotask between collections lets finalizers, weak callbacks and closed handles run.
    await sleep(5);
    gc!();
    last = process.memoryUsage().heapUsed;
    if (Math.abs(last - prev) < 16 * 1024) {
      if (++calm >= 2) return { heapUsed: last, stable: true };
    } else calm = 0;
    prev = last;
  }
  return { heapUsed: last, stable: false };
}

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

function fdKinds(): string[] {
  const kinds: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // The fd of the directory listing itself is gone by now.
    }
    const m = /^(socket|pipe|anon_inode):/.exec(target);
    kinds.push(m ? (m[1] === 'anon_inode' ? target.replace(/\[\d+\]$/, '') : m[1]!) : target.startsWith('/dev/') ? target : 'file');
  }
  return kinds;
}

/** Children of this process from /proc/<pid>/stat (ppid is field 4, after the parenthesised comm). */
function children(): { count: number; zombies: number } {
  let count = 0;
  let zombies = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // Exited between readdir and read.
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[1]) !== process.pid) continue;
    count++;
    if (rest[0] === 'Z') zombies++;
  }
  return { count, zombies };
}

function handleTypes(): string[] {
  return process.getActiveResourcesInfo();
}

/** Reads handles and fds until two consecutive reads agree (at most 50 tries, 20 ms apart). */
async function stableCounts(): Promise<{ handles: string[]; fds: string[] }> {
  let prev: string | undefined;
  let cur = { handles: handleTypes(), fds: fdKinds() };
  for (let i = 0; i < 50; i++) {
    const key = JSON.stringify([countBy(cur.handles), countBy(cur.fds)]);
    if (key === prev) return cur;
    prev = key;
    await sleep(20);
    cur = { handles: handleTypes(), fds: fdKinds() };
  }
  return cur;
}

async function snapshot(s: Scenario): Promise<LeakSnapshot> {
  await s.settle?.();
  const heap = await heapAfterGc();
  const { handles, fds } = await stableCounts();
  const kids = children();
  const extra = (await s.measure?.()) ?? {};
  return {
    heapUsed: heap.heapUsed,
    heapStable: heap.stable,
    handles: handles.length,
    handlesByType: countBy(handles),
    fds: fds.length,
    fdsByType: countBy(fds),
    children: kids.count,
    zombies: kids.zombies,
    extra,
  };
}

async function runCycles(s: Scenario, from: number, count: number, concurrency: number): Promise<void> {
  let next = from;
  const end = from + count;
  const worker = async () => {
    while (next < end) await s.cycle(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(count, 1)) }, worker));
}

/** Tells the parent where we are, so a hang or a silent exit can be located. */
function phase(name: string): Promise<void> {
  return send({ type: 'phase', phase: name });
}

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(msg, undefined, {}, (err) => (err ? reject(err) : resolve())));
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as Config;
  const s = (await import(pathToFileURL(config.scenario).href)) as Scenario;
  if (typeof s.cycle !== 'function') throw new Error(`${config.scenario} exports no cycle(i) function`);
  await phase('setup');
  await s.setup?.(config.params);
  try {
    await phase('warm-up cycles');
    await runCycles(s, 0, config.warmup, config.concurrency);
    await phase('baseline snapshot (settle, GC, counts)');
    const before = await snapshot(s);
    await phase('measured cycles');
    const t0 = performance.now();
    // A heap reading halfway: growth in the second half alone is the slope, free of warm-up effects.
    const half = Math.floor(config.cycles / 2);
    await runCycles(s, config.warmup, half, config.concurrency);
    const t1 = performance.now();
    await s.settle?.();
    const midHeapUsed = (await heapAfterGc()).heapUsed;
    const t2 = performance.now();
    await runCycles(s, config.warmup + half, config.cycles - half, config.concurrency);
    const cyclesMs = Math.round(performance.now() - t2 + (t1 - t0));
    await phase('final snapshot (settle, GC, counts)');
    const after = await snapshot(s);
    await phase('teardown');
    await s.teardown?.();
    await immediate();
    const resourcesAfterTeardown = handleTypes();
    await send({
      type: 'report',
      report: { scenario: config.scenario, cycles: config.cycles, warmup: config.warmup, before, midHeapUsed, after, cyclesMs, resourcesAfterTeardown },
    });
  } catch (err) {
    // Report first: a teardown that hangs (it may, after a failure) must not hide the failure.
    await send({ type: 'error', message: (err as Error).message, stack: (err as Error).stack });
    await Promise.race([Promise.resolve(s.teardown?.()).catch(() => {}), sleep(5_000)]);
    process.exit(1);
  }
  // The IPC channel is the last thing we hold; once it is gone the process must exit by itself.
  process.disconnect?.();
}

// A throw in a scenario's callback (not its awaited promise) still reaches the parent as a failure.
process.on('uncaughtException', (err) => fail(err));

main().catch(fail);

async function fail(err: Error): Promise<void> {
  try {
    await send({ type: 'error', message: err.message, stack: err.stack });
  } finally {
    process.exit(1);
  }
}

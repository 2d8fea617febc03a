/**
 * Memory (issue 12): what `top` shows for Keel, run as users run it (`node bin/keel.js`: the built
 * server from dist/), beside a bare `node:http` server started in the same run as the floor.
 *
 *   (a) RSS at rest, Keel and the floor (median of RUNS fresh starts, each the median of 5 samples)
 *   (b) RSS with one terminal and a viewer (the mirror worker starts), and once it is closed and
 *       the worker's idle grace has passed
 *   (c) a 50 MB flood to one viewer that acknowledges like a browser, then the session closed:
 *       RSS 0, 15 and 30 s after the close, against rest
 *   (d) 300 sequential create → attach → prompt → close cycles: RSS 30 s after, against rest
 *   (e) RSS per idle session with a viewer: the slope from 100 to 200 sessions
 *   (f) RSS per idle /stream subscriber: the slope from 1,000 to 2,000 subscribers
 *
 * Every figure is RSS from /proc/<pid>/status (VmRSS; the notes add its anonymous / file-backed
 * split). Keel's own breakdown of the same numbers is GET /debug/memory → memory.breakdown.
 */
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, row, rssPartsOf, sleep, startKeel, startServerProcess, type BenchResult, type BenchRow, type KeelProcess } from './lib.ts';
import { createTerminal, Viewer } from './terminal-client.ts';

const MB = 1024 * 1024;
const KB = 1024;
const RUNS = Number(process.env.MEMORY_BENCH_RUNS ?? 3);
const FLOOD_BYTES = 50_000_000;
const CHURN_CYCLES = Number(process.env.MEMORY_BENCH_CHURN_CYCLES ?? 300);
const IDLE_SESSIONS = 200;
// The slope is taken over the second half: below ~1,000 subscribers it is dominated by one-time
// growth steps of the allocator (measured: 29 KB/subscriber at 250 → 500, 12–14 KB above 1,000).
const SUBSCRIBERS = 2_000;
const SETTLE_MS = 5_000;
const AFTER_CLOSE_S = [0, 15, 30];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (b: number) => (b / MB).toFixed(1);

/** Median RSS (and its parts) of `n` samples `gapMs` apart. */
async function sampleRss(pid: number, n = 5, gapMs = 1_000): Promise<{ rss: number; anon: number; file: number }> {
  const s: { rss: number; anon: number; file: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (i) await sleep(gapMs);
    s.push(rssPartsOf(pid));
  }
  return { rss: median(s.map((x) => x.rss)), anon: median(s.map((x) => x.anon)), file: median(s.map((x) => x.file)) };
}

async function startFloor() {
  const script = "require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log('Open: http://127.0.0.1:' + this.address().port); });";
  const { child } = await startServerProcess(['-e', script], /Open:\s+(\S+)/, { what: 'floor' });
  return {
    pid: child.pid!,
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

/** Extra Keel flags for every start (e.g. MEMORY_BENCH_ARGS="--malloc-tunables=" to compare settings). */
const EXTRA_ARGS = (process.env.MEMORY_BENCH_ARGS ?? '').split(' ').filter(Boolean);

const start = (args: string[] = []) =>
  startKeel(['--max-terminal-sessions', String(IDLE_SESSIONS + 10), '--max-terminal-viewers', String(IDLE_SESSIONS + 10), '--max-sse-connections', String(SUBSCRIBERS + 10), '--max-http-connections', String(SUBSCRIBERS + IDLE_SESSIONS + 100), ...EXTRA_ARGS, ...args], { entry: 'bin', timeoutMs: 120_000 });

async function api(k: KeelProcess, method: string, p: string): Promise<number> {
  const r = await fetch(k.base + p, { method, headers: { authorization: `Bearer ${k.token}`, origin: k.base } });
  await r.arrayBuffer();
  return r.status;
}

async function workers(k: KeelProcess): Promise<number> {
  const m = await k.get('/debug/memory');
  return Number(m.subsystems?.terminals?.mirror_workers ?? NaN);
}

async function rest(rows: BenchRow[], notes: string[]): Promise<number> {
  const keel: number[] = [];
  const floor: number[] = [];
  const parts: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const f = await startFloor();
    const k = await start();
    try {
      await sleep(SETTLE_MS);
      const [a, b] = await Promise.all([sampleRss(k.pid), sampleRss(f.pid)]);
      keel.push(a.rss);
      floor.push(b.rss);
      parts.push(`keel ${fmt(a.rss)} (anon ${fmt(a.anon)}, file ${fmt(a.file)}) / floor ${fmt(b.rss)} (anon ${fmt(b.anon)}, file ${fmt(b.file)})`);
    } finally {
      await k.stop();
      await f.stop();
    }
  }
  rows.push(row('(a) Keel RSS at rest, no terminal open', median(keel) / MB, 'MB', { op: '<=', limit: 60 }));
  rows.push(row('(a) floor: bare node:http server RSS at rest', median(floor) / MB, 'MB'));
  rows.push(row('(a) Keel above the floor', (median(keel) - median(floor)) / MB, 'MB'));
  notes.push(`rest, ${RUNS} runs, MB: ${parts.join('; ')}`);
  return median(keel);
}

async function oneTerminalAndFlood(rows: BenchRow[], notes: string[]): Promise<void> {
  const k = await start();
  try {
    await sleep(SETTLE_MS);
    const rest = (await sampleRss(k.pid)).rss;
    const t = await createTerminal(k.base, k.token, { cols: 120, rows: 40, command: `read -r _; yes ${'x'.repeat(200)} | head -c ${FLOOD_BYTES}` });
    const v = new Viewer(k.base, k.token, t.id, { ack: 'browser' });
    await v.opened();
    await sleep(3_000);
    const one = (await sampleRss(k.pid, 3)).rss;
    rows.push(row('(b) RSS with one terminal + viewer, above rest', (one - rest) / MB, 'MB', { op: '<=', limit: 8 }));

    let peak = one;
    const sampler = setInterval(() => (peak = Math.max(peak, rssPartsOf(k.pid).rss)), 250);
    v.input('\r');
    await v.until(() => v.exited, 600_000);
    clearInterval(sampler);
    v.close();
    await api(k, 'DELETE', `/api/terminals/${t.id}`);
    const closedAt = performance.now();
    rows.push(row(`(c) peak RSS during the ${FLOOD_BYTES / 1e6} MB flood, above rest`, (peak - rest) / MB, 'MB'));
    for (const s of AFTER_CLOSE_S) {
      const wait = closedAt + s * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const r = rssPartsOf(k.pid);
      const target = s === 30 ? { op: '<=' as const, limit: 8 } : undefined;
      rows.push(row(`(c) flood + close, ${s} s after: above rest`, (r.rss - rest) / MB, 'MB', target));
      notes.push(`flood +${s} s: rss ${fmt(r.rss)} anon ${fmt(r.anon)} file ${fmt(r.file)} MB`);
    }
    const w = await workers(k);
    rows.push(row('(b) mirror workers 30 s after the last terminal closed', w, 'count', { op: '<=', limit: 0 }));
    notes.push(`rest before the terminal ${fmt(rest)} MB; the viewer received ${fmt(v.received)} MB`);
  } finally {
    await k.stop();
  }
}

async function churn(rows: BenchRow[], notes: string[]): Promise<void> {
  const k = await start();
  try {
    await sleep(SETTLE_MS);
    const rest = (await sampleRss(k.pid)).rss;
    const cycle = async () => {
      const t = await createTerminal(k.base, k.token, { cols: 80, rows: 24 });
      const v = new Viewer(k.base, k.token, t.id, { ack: 'browser' });
      await v.opened();
      // The prompt: the shell has started and drawn it.
      await v.until(() => v.received > 0, 30_000);
      v.close();
      const st = await api(k, 'DELETE', `/api/terminals/${t.id}`);
      if (st !== 204 && st !== 404) throw new Error(`DELETE terminal answered ${st}`);
    };
    // One cycle first, then 30 s (the mirror worker's idle stop, and the idle GC): "warm rest". The
    // first worker start leaves a one-time residue (V8 pages an isolate kept, code paged in) that is
    // not growth; the churn figure is what 300 more cycles add on top of it.
    await cycle();
    await sleep(30_000);
    const warmParts = await sampleRss(k.pid);
    const warm = warmParts.rss;
    const warmBreakdown = (await k.get('/debug/memory')).memory.breakdown;
    const t0 = performance.now();
    for (let i = 0; i < CHURN_CYCLES; i++) await cycle();
    const secs = (performance.now() - t0) / 1000;
    const closedAt = performance.now();
    await sleep(Math.max(0, closedAt + 30_000 - performance.now()));
    const afterParts = await sampleRss(k.pid, 3);
    const after = afterParts.rss;
    const afterBreakdown = (await k.get('/debug/memory')).memory.breakdown;
    notes.push(`churn, warm rest → after: anon ${fmt(warmParts.anon)} → ${fmt(afterParts.anon)} MB, file ${fmt(warmParts.file)} → ${fmt(afterParts.file)} MB; breakdown ${JSON.stringify(warmBreakdown)} → ${JSON.stringify(afterBreakdown)}`);
    rows.push(row(`(d) ${CHURN_CYCLES} create/attach/prompt/close cycles, 30 s after: above warm rest (after one cycle)`, (after - warm) / MB, 'MB', { op: '<=', limit: 2 }));
    rows.push(row(`(d) the same, above cold rest (before any terminal)`, (after - rest) / MB, 'MB'));
    notes.push(`churn: ${CHURN_CYCLES} cycles in ${secs.toFixed(1)} s; cold rest ${fmt(rest)} MB, warm rest (one cycle, 30 s) ${fmt(warm)} MB, after ${fmt(after)} MB`);
  } finally {
    await k.stop();
  }
}

/**
 * The marginal cost: the RSS slope from IDLE_SESSIONS / 2 to IDLE_SESSIONS sessions, so one-time
 * costs (the mirror worker starting, code the first sessions compile and page in) are not spread
 * over the sessions.
 */
async function idleSessions(rows: BenchRow[], notes: string[]): Promise<void> {
  const k = await start();
  const viewers: Viewer[] = [];
  const open = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const t = await createTerminal(k.base, k.token, { cols: 80, rows: 24 });
      const v = new Viewer(k.base, k.token, t.id, { ack: 'browser' });
      viewers.push(v);
      await v.opened();
    }
    await Promise.all(viewers.map((v) => v.until(() => v.received > 0, 60_000)));
    await sleep(3_000);
    return (await sampleRss(k.pid, 3)).rss;
  };
  try {
    const half = await open(IDLE_SESSIONS / 2);
    const full = await open(IDLE_SESSIONS / 2);
    rows.push(row(`(e) RSS per idle session with a viewer (${IDLE_SESSIONS / 2} → ${IDLE_SESSIONS} sessions)`, (full - half) / (IDLE_SESSIONS / 2) / KB, 'KB', { op: '<=', limit: 150 }));
    const m = await k.get('/debug/memory');
    notes.push(`${IDLE_SESSIONS} sessions: rss ${fmt(full)} MB, ${IDLE_SESSIONS / 2}: ${fmt(half)} MB; breakdown at ${IDLE_SESSIONS}: ${JSON.stringify(m.memory.breakdown)}`);
  } finally {
    for (const v of viewers) v.close();
    await k.stop();
  }
}

async function subscribers(rows: BenchRow[]): Promise<void> {
  const k = await start();
  const sockets: net.Socket[] = [];
  try {
    const open = async () => {
      const u = new URL(k.base);
      const s = net.connect(Number(u.port), u.hostname);
      sockets.push(s);
      let got = '';
      await new Promise<void>((resolve, reject) => {
        s.on('error', reject);
        s.on('data', (d) => {
          got += d.toString('latin1');
          if (got.includes('\r\n\r\n')) resolve();
        });
        s.write(`GET /stream HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${k.token}\r\nAccept: text/event-stream\r\n\r\n`);
      });
      if (!got.startsWith('HTTP/1.1 200')) throw new Error(`/stream answered ${got.slice(0, 40)}`);
      s.removeAllListeners('data');
      s.resume();
    };
    // The slope from SUBSCRIBERS / 2 to SUBSCRIBERS, as for sessions.
    for (let i = 0; i < SUBSCRIBERS / 2; i++) await open();
    await sleep(3_000);
    const before = (await sampleRss(k.pid, 3)).rss;
    for (let i = 0; i < SUBSCRIBERS / 2; i++) await open();
    await sleep(3_000);
    const after = (await sampleRss(k.pid, 3)).rss;
    rows.push(row(`(f) RSS per idle /stream subscriber (${SUBSCRIBERS / 2} → ${SUBSCRIBERS})`, (after - before) / (SUBSCRIBERS / 2) / KB, 'KB', { op: '<=', limit: 12 }));
  } finally {
    for (const s of sockets) s.destroy();
    await k.stop();
  }
}

export default async function memoryBench(): Promise<BenchResult> {
  // Built before anything is measured, so no start below pays for (or measures) a build.
  const { ensureServer } = (await import(pathToFileURL(path.join(ROOT, 'scripts/build-server.js')).href)) as { ensureServer: () => Promise<string | null> };
  const entry = await ensureServer();
  if (!entry) throw new Error('no server build (rolldown missing?): run npm install');
  const rows: BenchRow[] = [];
  const notes: string[] = [`server: ${path.relative(ROOT, entry)}`];
  const only = (process.env.MEMORY_BENCH_ONLY ?? 'abcdef').split('');
  if (only.includes('a')) await rest(rows, notes);
  if (only.includes('b') || only.includes('c')) await oneTerminalAndFlood(rows, notes);
  if (only.includes('d')) await churn(rows, notes);
  if (only.includes('e')) await idleSessions(rows, notes);
  if (only.includes('f')) await subscribers(rows);
  return { name: 'memory', rows, notes };
}

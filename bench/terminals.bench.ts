/**
 * Terminals (issue 3): (a) throughput to a viewer that acknowledges like a browser, as a ratio to
 * the raw PTY read rate of the same producer measured in this run; (b) keystroke echo round trip;
 * (c) RSS per idle session with one viewer over 200 sessions; (d) RSS growth during a 20 s flood to
 * a viewer that renders at ~200 KB/s. Keel runs in its own process; traffic stays on 127.0.0.1.
 */
import path from 'node:path';
import pty from '@lydell/node-pty';
import { percentile, ROOT, row, sleep, startKeel, startServerProcess, type BenchResult, type BenchRow } from './lib.ts';
import { createTerminal, Viewer } from './terminal-client.ts';

const MB = 1024 * 1024;
const PRODUCERS: [string, string][] = [
  ['short lines (seq)', 'seq 1 7000000'],
  ['long lines (yes, 200-char lines)', `yes ${'x'.repeat(200)} | head -c 50000000`],
  ['very long lines (yes, 1,000-char lines)', `yes ${'x'.repeat(1000)} | head -c 50000000`],
  // As grep --color prints them: a colour and an erase at the start, a reset at the end of each line.
  ['coloured lines (200-char, grep-style SGR + EL)', `yes "$(printf '\\033[01;31m\\033[K%s\\033[m\\033[K' ${'x'.repeat(190)})" | head -c 50000000`],
];
const COLS = 120;
const ROWS = 40;
const IDLE_SESSIONS = 200;
const FLOOD_SECONDS = 20;
const ECHO_SAMPLES = 500;
const THROUGHPUT_ROUNDS = 5;

/** Raw PTY read rate: the same producer in a PTY read directly by node-pty in this process. */
async function rawRate(cmd: string): Promise<{ bytes: number; secs: number }> {
  // encoding null, as Keel reads it: raw Buffers, nothing decoded.
  const p = pty.spawn('/bin/bash', ['-c', `read -r _; ${cmd}`], { cols: COLS, rows: ROWS, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string>, encoding: null });
  let bytes = 0;
  await sleep(200);
  const t0 = performance.now();
  p.onData((d) => (bytes += (d as unknown as Buffer).length));
  p.write('\r');
  await new Promise<void>((r) => p.onExit(() => r()));
  return { bytes, secs: (performance.now() - t0) / 1000 };
}

async function keelRate(base: string, token: string, cmd: string): Promise<{ bytes: number; secs: number }> {
  const t = await createTerminal(base, token, { cols: COLS, rows: ROWS, command: `read -r _; ${cmd}` });
  return viewerRate(new Viewer(base, token, t.id, { ack: 'browser' }));
}

/** The bare relay (bench/terminal-relay.ts): the same producer and viewer, nothing of Keel. */
async function relayRate(base: string, cmd: string): Promise<{ bytes: number; secs: number }> {
  return viewerRate(new Viewer(base, '', '', { ack: 'browser', url: `${base.replace('http', 'ws')}/?cmd=${encodeURIComponent(cmd)}` }));
}

async function viewerRate(v: Viewer): Promise<{ bytes: number; secs: number }> {
  await v.opened();
  await sleep(200);
  const start = v.received;
  const t0 = performance.now();
  v.input('\r');
  await v.until(() => v.exited, 300_000);
  const secs = (performance.now() - t0) / 1000;
  v.close();
  return { bytes: v.received - start, secs };
}

/**
 * Raw and Keel runs alternate, THROUGHPUT_ROUNDS of each, and the medians are compared: on a small
 * machine the producer's own rate swings by ±30 % from run to run, so one pair is mostly noise.
 */
async function throughput(rows: BenchRow[]): Promise<void> {
  const keel = await startKeel();
  const relay = await startRelay();
  try {
    for (const [label, cmd] of PRODUCERS) {
      const raws: number[] = [];
      const keels: number[] = [];
      const relays: number[] = [];
      let delivered = 0;
      for (let i = 0; i < THROUGHPUT_ROUNDS; i++) {
        const raw = await rawRate(cmd);
        raws.push(raw.bytes / MB / raw.secs);
        const k = await keelRate(keel.base, keel.token, cmd);
        keels.push(k.bytes / MB / k.secs);
        delivered = Math.min(delivered || Infinity, k.bytes);
        const r = await relayRate(relay.base, cmd);
        relays.push(r.bytes / MB / r.secs);
      }
      const median = (xs: number[]) => percentile(xs.sort((a, b) => a - b), 50);
      const rawMBs = median(raws);
      const keelMBs = median(keels);
      const relayMBs = median(relays);
      rows.push(row(`(a) raw PTY read, ${label} (median of ${THROUGHPUT_ROUNDS})`, rawMBs, 'MB/s'));
      rows.push(row(`(a) Keel to an acking viewer, ${label} (median of ${THROUGHPUT_ROUNDS})`, keelMBs, 'MB/s'));
      rows.push(row(`(a) ratio Keel / raw, ${label}`, keelMBs / rawMBs, 'x', { op: '>=', limit: 0.9 }));
      rows.push(row(`(a) bare relay to the same viewer, ${label} (reference)`, relayMBs, 'MB/s'));
      rows.push(row(`(a) ratio bare relay / raw, ${label} (reference)`, relayMBs / rawMBs, 'x'));
      rows.push(row(`(a) bytes delivered per run (least), ${label}`, delivered / MB, 'MB'));
    }
  } finally {
    relay.stop();
    await keel.stop();
  }
}

/** bench/terminal-relay.ts in its own process, as Keel runs in its own. */
async function startRelay(): Promise<{ base: string; stop(): void }> {
  const { child, match } = await startServerProcess([path.join(ROOT, 'bench/terminal-relay.ts')], /PORT (\d+)/, { what: 'the bare relay', timeoutMs: 10_000 });
  return { base: `http://127.0.0.1:${match[1]}`, stop: () => child.kill('SIGKILL') };
}

async function echo(rows: BenchRow[]): Promise<void> {
  const keel = await startKeel();
  try {
    const t = await createTerminal(keel.base, keel.token, { command: 'cat' });
    const v = new Viewer(keel.base, keel.token, t.id, { ack: 'browser' });
    await v.opened();
    await sleep(300);
    const lat: number[] = [];
    for (let i = 0; i < ECHO_SAMPLES + 50; i++) {
      const before = v.received;
      const t0 = performance.now();
      v.input(i % 40 === 39 ? '\r' : 'k');
      await v.until(() => v.received > before, 10_000);
      if (i >= 50) lat.push(performance.now() - t0);
    }
    lat.sort((a, b) => a - b);
    rows.push(row('(b) keystroke echo p50', percentile(lat, 50), 'ms', { op: '<', limit: 0.5 }));
    rows.push(row('(b) keystroke echo p99', percentile(lat, 99), 'ms', { op: '<', limit: 10 }));
    v.close();
  } finally {
    await keel.stop();
  }
}

async function idleSessions(rows: BenchRow[]): Promise<void> {
  const keel = await startKeel(['--max-terminal-sessions', String(IDLE_SESSIONS + 10), '--max-terminal-viewers', String(IDLE_SESSIONS + 10), '--max-http-connections', '2000']);
  const viewers: Viewer[] = [];
  try {
    // Warm-up: one session, so the mirror worker and modules are loaded before the baseline.
    const w = await createTerminal(keel.base, keel.token);
    const wv = new Viewer(keel.base, keel.token, w.id, { ack: 'browser' });
    await wv.opened();
    await wv.until(() => wv.received > 0, 20_000);
    wv.close();
    await fetch(`${keel.base}/api/terminals/${w.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${keel.token}`, origin: keel.base } });
    await sleep(1500);
    const before = keel.rss();
    for (let i = 0; i < IDLE_SESSIONS; i++) {
      const t = await createTerminal(keel.base, keel.token, { cols: 80, rows: 24 });
      const v = new Viewer(keel.base, keel.token, t.id, { ack: 'browser' });
      viewers.push(v);
      await v.opened();
    }
    await Promise.all(viewers.map((v) => v.until(() => v.received > 0, 60_000)));
    await sleep(3000);
    const after = keel.rss();
    rows.push(row(`(c) server RSS before ${IDLE_SESSIONS} sessions`, before / MB, 'MB'));
    rows.push(row(`(c) server RSS with ${IDLE_SESSIONS} idle sessions + viewers`, after / MB, 'MB'));
    rows.push(row('(c) RSS per idle session with one viewer', (after - before) / IDLE_SESSIONS / MB, 'MB', { op: '<=', limit: 2 }));
  } finally {
    for (const v of viewers) v.close();
    await keel.stop();
  }
}

async function flood(rows: BenchRow[]): Promise<void> {
  const keel = await startKeel();
  try {
    const t = await createTerminal(keel.base, keel.token, { command: `read -r _; timeout ${FLOOD_SECONDS} yes` });
    const v = new Viewer(keel.base, keel.token, t.id, { ack: 'rate', ackBytesPerSec: 200_000 });
    await v.opened();
    await sleep(1000);
    const before = keel.rss();
    let peak = before;
    v.input('\r');
    const sampler = setInterval(() => (peak = Math.max(peak, keel.rss())), 250);
    await v.until(() => v.exited, (FLOOD_SECONDS + 60) * 1000);
    clearInterval(sampler);
    rows.push(row(`(d) RSS growth during a ${FLOOD_SECONDS} s flood to a 200 KB/s viewer (peak - before)`, (peak - before) / MB, 'MB', { op: '<=', limit: 16 }));
    rows.push(row('(d) bytes the slow viewer received', v.received / MB, 'MB'));
    v.close();
  } finally {
    await keel.stop();
  }
}

export default async function run(): Promise<BenchResult> {
  const rows: BenchRow[] = [];
  // KEEL_BENCH_PARTS=echo,flood runs only those parts (for iterating on one figure).
  const parts = (process.env.KEEL_BENCH_PARTS ?? 'throughput,echo,idle,flood').split(',');
  if (parts.includes('throughput')) await throughput(rows);
  if (parts.includes('echo')) await echo(rows);
  if (parts.includes('idle')) await idleSessions(rows);
  if (parts.includes('flood')) await flood(rows);
  return { name: 'terminals', rows };
}

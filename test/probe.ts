/**
 * A liveness probe for hostile-load tests: GET /healthz on a fresh connection every `intervalMs`
 * while something else goes on, recording each answer's latency (a request that does not answer
 * within `timeoutMs` counts as that long, and as a failure), and, for a server in its own process,
 * its peak RSS. The loop runs in a child process (probe-child.ts), so a busy test process does not
 * show up as a slow server.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';

export interface ProbeReport {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests that failed or timed out. */
  failures: number;
  /** Peak RSS of `pid` seen at each sample, bytes (0 without a pid). */
  maxRss: number;
}

export interface Probe {
  /** Answers so far. */
  readonly samples: number;
  stop(): Promise<ProbeReport>;
}

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export function startProbe(baseUrl: string, opts: { intervalMs?: number; timeoutMs?: number; pid?: number } = {}): Probe {
  const child = fork(new URL('./probe-child.ts', import.meta.url), [baseUrl, String(opts.intervalMs ?? 20), String(opts.timeoutMs ?? 5_000), String(opts.pid ?? 0)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let samples = 0;
  let result: { latencies: number[]; failures: number; maxRss: number } | undefined;
  child.on('message', (m: any) => {
    if (m.done) result = m;
    else samples = m.samples;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    get samples() {
      return samples;
    },
    async stop() {
      child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      if (!result) throw new Error('the probe process ended without a report');
      const s = [...result.latencies].sort((a, b) => a - b);
      const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : 0);
      return { samples: s.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: s.at(-1) ?? 0, failures: result.failures, maxRss: result.maxRss };
    },
  };
}

/**
 * Probes a server and, at the same time, an idle reference server on the same machine: what the
 * machine's own load costs a probe shows in the reference, so the assertion is about what the server
 * under test adds, not about how busy the machine is (the test files run two at a time).
 */
export function startPairedProbe(target: { base: string; pid: number }, reference: { base: string }): { readonly samples: number; stop(): Promise<{ target: ProbeReport; reference: ProbeReport }> } {
  const t = startProbe(target.base, { pid: target.pid });
  const r = startProbe(reference.base);
  return {
    get samples() {
      return Math.min(t.samples, r.samples);
    },
    async stop() {
      const [target, reference] = await Promise.all([t.stop(), r.stop()]);
      return { target, reference };
    },
  };
}

/**
 * The server answered /healthz throughout: p99 under 100 ms plus what the idle reference's p99 was
 * at the same time (on a quiet machine that is a few ms: the bound is then the 100 ms), no
 * answer over a second (more on a machine so loaded that the reference saw worse), RSS bounded.
 * The attacks these tests replay froze Keel for 2 to 40 seconds, or killed it.
 */
export function assertResponsive(p: { target: ProbeReport; reference: ProbeReport }, what: string, rssBefore: number, maxRssGrowth: number): void {
  const { target: r, reference: ref } = p;
  const MiB = 1024 * 1024;
  const detail = `${what}: ${JSON.stringify({ ...r, maxRssMb: Math.round(r.maxRss / MiB), rssBeforeMb: Math.round(rssBefore / MiB), referenceP99Ms: Math.round(ref.p99Ms), referenceMaxMs: Math.round(ref.maxMs) })}`;
  if (r.failures !== 0) throw new Error(`/healthz did not always answer (${detail})`);
  if (!(r.p99Ms < 100 + ref.p99Ms)) throw new Error(`/healthz p99 over 100 ms more than an idle Keel's (${detail})`);
  if (!(r.maxMs < Math.max(1_000, 2 * ref.maxMs))) throw new Error(`a /healthz answer took a second or more (${detail})`);
  if (!(r.maxRss - rssBefore < maxRssGrowth)) throw new Error(`RSS grew by more than ${Math.round(maxRssGrowth / MiB)} MB (${detail})`);
  console.log(`${what}: /healthz p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms over ${r.samples} (idle reference p99 ${ref.p99Ms.toFixed(1)} ms); RSS ${Math.round(rssBefore / MiB)} → peak ${Math.round(r.maxRss / MiB)} MB`);
}

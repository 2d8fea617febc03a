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

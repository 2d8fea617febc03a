/**
 * The probe's loop in its own process (see probe.ts): what it measures must not depend on how busy
 * the test process is (a test's own Yjs clients can keep it busy for seconds). Reports on 'stop'.
 */
import fs from 'node:fs';
import http from 'node:http';

const [url, intervalArg, timeoutArg, pidArg] = process.argv.slice(2);
const intervalMs = Number(intervalArg);
const timeoutMs = Number(timeoutArg);
const pid = Number(pidArg) || 0;
const latencies: number[] = [];
let failures = 0;
let maxRss = 0;
let stopped = false;

function rss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function once(): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(url + '/healthz', { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) failures++;
        latencies.push(performance.now() - t0);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      failures++;
      latencies.push(Math.max(performance.now() - t0, timeoutMs));
      resolve();
    });
  });
}

process.on('message', (m) => {
  if (m === 'stop') stopped = true;
});
while (!stopped) {
  await once();
  if (pid) {
    try {
      maxRss = Math.max(maxRss, rss());
    } catch {
      // The process is gone: the failures say so.
    }
  }
  process.send!({ samples: latencies.length });
  await new Promise((r) => setTimeout(r, intervalMs));
}
process.send!({ done: true, latencies, failures, maxRss }, () => process.exit(0));

/**
 * Foundation: idle footprint, /debug/memory latency, and RSS growth under request churn.
 * The server runs in its own process; the load comes from this one, on 127.0.0.1 only.
 */
import http from 'node:http';
import { percentile, row, sleep, startKeel, type BenchResult } from './lib.ts';

const MB = 1024 * 1024;
const REQUESTS = 5_000;
const CONCURRENCY = 8;
const CHURN_ROUNDS = 6;

function get(base: string, token: string, agent: http.Agent | false): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/debug/memory`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

async function load(base: string, token: string, agent: http.Agent | false, n: number): Promise<number[]> {
  const lat: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        lat.push(await get(base, token, agent));
      }
    }),
  );
  return lat.sort((a, b) => a - b);
}

export default async function run(): Promise<BenchResult> {
  const keel = await startKeel();
  try {
    await sleep(1500);
    const idle = keel.rss();
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    // Warm-up: lets V8's young generation grow to its working size (up to 32 MB), which is not a leak.
    await load(keel.base, keel.token, agent, REQUESTS);
    const warm = keel.rss();
    const t0 = performance.now();
    const lat = await load(keel.base, keel.token, agent, REQUESTS);
    const rps = REQUESTS / ((performance.now() - t0) / 1000);
    agent.destroy();
    const afterKeepAlive = keel.rss();
    // New-connection churn: RSS climbs while V8's old space and malloc's arenas reach their working
    // size, then plateaus (heap after GC stays flat: see test/leak tests). Report the last round.
    let prev = keel.rss();
    let churnGrowth = 0;
    for (let round = 0; round < CHURN_ROUNDS; round++) {
      await load(keel.base, keel.token, false, REQUESTS);
      await sleep(300);
      const now = keel.rss();
      churnGrowth = now - prev;
      prev = now;
    }
    const afterChurn = prev;
    const mem = await keel.get('/debug/memory');
    return {
      name: 'http',
      rows: [
        row('idle RSS', idle / MB, 'MB'),
        row('worst-case budget (defaults)', mem.budget.worst_case_mb, 'MB'),
        row('/debug/memory p50', percentile(lat, 50), 'ms'),
        row('/debug/memory p99', percentile(lat, 99), 'ms', { op: '<', limit: 50 }),
        row('/debug/memory throughput', rps, 'req/s'),
        row(`RSS after ${REQUESTS} warm-up requests`, warm / MB, 'MB'),
        row(`RSS growth over ${REQUESTS} more keep-alive requests`, (afterKeepAlive - warm) / MB, 'MB', { op: '<=', limit: 8 }),
        row(`RSS after ${CHURN_ROUNDS} × ${REQUESTS} new-connection requests`, afterChurn / MB, 'MB'),
        row(`RSS growth over the last ${REQUESTS} new-connection requests`, churnGrowth / MB, 'MB', { op: '<=', limit: 8 }),
        row('heap used at end', mem.memory.heap_alloc_mb, 'MB'),
        row('handles at end', mem.handles, 'count'),
      ],
    };
  } finally {
    await keel.stop();
  }
}

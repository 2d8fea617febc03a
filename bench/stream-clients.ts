/**
 * The client side of the /stream benchmark, run as its own process by bench/stream.bench.ts: opens
 * many raw TCP connections to /stream (127.0.0.1 only), keeps them idle, and records for each
 * delivered benchmark event the latency from the server's append (the stamp in the event's text) to
 * its arrival here. Both processes read the same wall clock (performance.timeOrigin + now()).
 *
 * IPC in:  {type:'open', url, token, count}  {type:'collect'}  {type:'stop'}
 * IPC out: {type:'opened', open, failed}  {type:'collected', latencies, closed}
 */
import net from 'node:net';

type Msg = { type: 'open'; url: string; token: string; count: number } | { type: 'collect' } | { type: 'stop' };

const sockets = new Set<net.Socket>();
let latencies: number[] = [];
let closed = 0;
const STAMP = /bench (\d+\.\d+) /g;
const now = () => performance.timeOrigin + performance.now();
/**
 * Connections opened at once: under Keel's --max-unauthenticated-connections (64). A connection is
 * a stranger until its request's token is checked, and past that share Keel closes the least
 * recently active stranger (docs/security.md), so a burst of 250 connects lost about 40 % of them
 * before their requests were read. Real subscribers arrive over time; the bench measures holding
 * them, not admitting a burst.
 */
const BATCH = 48;
const OPEN_TIMEOUT_MS = 30_000;

function openOne(host: string, port: number, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let ready = false;
    // A frame may straddle two reads: keep the unfinished tail only (at most one frame long).
    let tail = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, OPEN_TIMEOUT_MS);
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`GET /stream HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`));
    s.on('data', (d: string) => {
      const t = now();
      if (!ready) {
        if (!d.startsWith('HTTP/1.1 200')) {
          clearTimeout(timer);
          s.destroy();
          resolve(false);
          return;
        }
        ready = true;
        sockets.add(s);
        clearTimeout(timer);
        resolve(true);
      }
      const text = tail + d;
      const end = text.lastIndexOf('\n\n');
      tail = end === -1 ? text : text.slice(end + 2);
      if (tail.length > 4096) tail = tail.slice(-4096);
      const done = end === -1 ? '' : text.slice(0, end);
      for (const m of done.matchAll(STAMP)) latencies.push(t - Number(m[1]));
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (sockets.delete(s)) closed++;
      clearTimeout(timer);
      if (!ready) resolve(false);
    });
  });
}

process.on('message', async (m: Msg) => {
  if (m.type === 'open') {
    const u = new URL(m.url);
    let open = 0;
    let failed = 0;
    for (let i = 0; i < m.count; i += BATCH) {
      const n = Math.min(BATCH, m.count - i);
      const results = await Promise.all(Array.from({ length: n }, () => openOne(u.hostname, Number(u.port), m.token)));
      for (const ok of results) ok ? open++ : failed++;
    }
    process.send!({ type: 'opened', open, failed });
  } else if (m.type === 'collect') {
    process.send!({ type: 'collected', latencies, closed });
    latencies = [];
  } else if (m.type === 'stop') {
    for (const s of sockets) s.destroy();
    process.exit(0);
  }
});
process.send!({ type: 'ready' });

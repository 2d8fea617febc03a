/**
 * The server side of the /stream benchmark, run as its own process by bench/stream.bench.ts
 * (forked, with --expose-gc and an IPC channel).
 *
 * Why a separate entry instead of `node src/cli.ts` (bench/lib.ts startKeel): the benchmark must put
 * events into the server's event log. Keel has no route that appends arbitrary events (the agent is
 * the only writer), and a test-only route or an env-enabled hook would be production code that only a
 * benchmark uses. Instead this entry builds the same server with the same `createKeel` the CLI uses,
 * plus one extra subsystem that lives here in bench/ and appends through `ctx.services.eventLog` — the
 * agent's own path (persist + publish) — when the parent asks over IPC. The IPC round trip is outside
 * the measured latency: each event carries the server time at which it was appended.
 *
 * `--bare` runs a minimal node:http SSE server instead (same IPC protocol): the reference point for
 * "close to what a bare node:http SSE response costs".
 *
 * IPC in:  {type:'inject', bytes}  {type:'measure'}  {type:'stop'}
 * IPC out: {type:'ready', url, token}  {type:'injected', seq, appendMs, flushedMs}  {type:'measured', heapUsed, rss, subscribers}
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createKeel, tuneRuntime } from '../src/app.ts';
import { loadOptions } from '../src/config/load.ts';

type Msg = { type: 'inject'; bytes: number } | { type: 'measure' } | { type: 'stop' };

const bare = process.argv.includes('--bare');
const maxSubscribers = Number(process.env.BENCH_MAX_SUBSCRIBERS ?? 12_000);
const send = (m: unknown) => process.send!(m);
const now = () => performance.timeOrigin + performance.now();

async function measure(subscribers: () => number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('start with --expose-gc');
  // GC until heap used is stable, with a macrotask between rounds (bounded).
  let prev = Infinity;
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    const h = process.memoryUsage().heapUsed;
    if (Math.abs(prev - h) < 64 * 1024) break;
    prev = h;
  }
  const m = process.memoryUsage();
  send({ type: 'measured', heapUsed: m.heapUsed, rss: m.rss, subscribers: subscribers() });
}

function text(bytes: number): string {
  // The appended event's frame is ~`bytes` long; the stamp is what the clients look for.
  return `bench ${now().toFixed(3)} `.padEnd(Math.max(16, bytes - 110), '.');
}

async function keel(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-stream-'));
  const options = loadOptions({
    overrides: {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      logLevel: 'warn',
      maxSseConnections: maxSubscribers,
      maxHttpConnections: maxSubscribers + 100,
      // The benchmark measures idle subscribers: no lifetime end and no trim during the run.
      sseMaxLifetimeMs: 86_400_000,
      memoryWarnMb: 16_384,
      memoryCriticalMb: 32_768,
    },
  });
  let sessionId = '';
  tuneRuntime(options);
  const k = await createKeel(options, {
    subsystems: [
      (_app, ctx) => {
        process.on('message', (m: Msg) => {
          if (m.type === 'inject') {
            sessionId ||= ctx.services.chat!.create('bench').id;
            const t0 = performance.now();
            const e = ctx.services.eventLog!.append(sessionId, { type: 'assistant_delta', messageId: 'bench', text: text(m.bytes) });
            const t1 = performance.now();
            // Node flushes corked response writes on the next tick: by setImmediate every socket has been written.
            setImmediate(() => send({ type: 'injected', seq: e.seq, appendMs: t1 - t0, flushedMs: performance.now() - t0 }));
          } else if (m.type === 'measure') void measure(() => ctx.services.sseHub!.stats().subscribers ?? 0);
          else if (m.type === 'stop') void k.close('bench done').finally(() => {
            fs.rmSync(dataDir, { recursive: true, force: true });
            process.exit(0);
          });
        });
      },
    ],
  });
  const url = await k.listen();
  send({ type: 'ready', url, token: k.ctx.auth.token });
}

async function bareServer(): Promise<void> {
  const subs = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/stream')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write('retry: 1000\n\nevent: state\ndata: {}\n\n');
    subs.add(res);
    res.on('close', () => subs.delete(res));
  });
  server.maxConnections = maxSubscribers + 100;
  let seq = 0;
  process.on('message', (m: Msg) => {
    if (m.type === 'inject') {
      seq++;
      const frame = `id: ${seq}\nevent: message\ndata: ${JSON.stringify({ seq, sessionId: 'bare', at: Date.now(), payload: { type: 'assistant_delta', messageId: 'bench', text: text(m.bytes) } })}\n\n`;
      const t0 = performance.now();
      for (const res of subs) res.write(frame);
      const t1 = performance.now();
      setImmediate(() => send({ type: 'injected', seq, appendMs: t1 - t0, flushedMs: performance.now() - t0 }));
    } else if (m.type === 'measure') void measure(() => subs.size);
    else if (m.type === 'stop') {
      for (const res of subs) res.destroy();
      server.close(() => process.exit(0));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  send({ type: 'ready', url: `http://127.0.0.1:${addr.port}`, token: 'none' });
}

await (bare ? bareServer() : keel());

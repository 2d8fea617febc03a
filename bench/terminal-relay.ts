/**
 * The reference for the terminal throughput benchmark: the least a Node PTY-to-WebSocket relay can
 * do, in its own process like Keel: one PTY per connection running the given command, every read
 * gathered (as Keel does, up to 64 KiB per frame) and sent as an `o` frame, then `x` and close.
 * No mirror, no flow control, no auth. Prints `PORT <n>` once listening; killed by its parent.
 *
 *   node bench/terminal-relay.ts
 */
import http from 'node:http';
import pty from '@lydell/node-pty';
import { WebSocketServer } from 'ws';

const BATCH_BYTES = 64 * 1024;
const server = http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const cmd = new URL(req.url ?? '/', 'http://x').searchParams.get('cmd') ?? 'true';
  const p = pty.spawn('/bin/sh', ['-c', `read -r _; ${cmd}`], { cols: 120, rows: 40, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string>, encoding: null });
  let batch: Buffer[] = [];
  let bytes = 0;
  let timer: NodeJS.Immediate | undefined;
  const flush = () => {
    if (timer) clearImmediate(timer);
    timer = undefined;
    if (!bytes) return;
    ws.send(Buffer.concat([Buffer.from('o'), ...batch]));
    batch = [];
    bytes = 0;
  };
  p.onData((d) => {
    const b = d as unknown as Buffer;
    batch.push(b);
    bytes += b.length;
    if (bytes >= BATCH_BYTES) flush();
    else timer ??= setImmediate(flush);
  });
  p.onExit(() => {
    flush();
    ws.send(Buffer.from('x{}'));
    ws.close();
  });
  // Input frames ('i…') go to the PTY: the viewer's Enter starts the producer.
  ws.on('message', (m: Buffer) => {
    if (m[0] === 0x69) p.write(m.subarray(1).toString());
  });
  ws.on('close', () => p.kill());
});
server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as { port: number }).port}`));

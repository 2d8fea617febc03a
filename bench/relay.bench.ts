/**
 * Reach: what the relay and the direct path cost, each server in its own process, all on
 * 127.0.0.1 (so the relay's figures are its own overhead, not a network's).
 *
 * - Terminal echo round trip (p50/p99): a keystroke to the shell and its echo back, three ways:
 *   straight to Keel's WebSocket, through the relay (end-to-end encrypted tunnel), and over the
 *   direct WebRTC path (werift at both ends, the tunnel's framing inside DTLS).
 * - Throughput: the UI's biggest built file fetched over and over, the same three ways.
 * - Relay RSS per idle tunnel: 1,000 browser sockets held open to one host (a minimal host that
 *   proves its key and answers each tunnel once), RSS before and after.
 *
 *   npm run bench -- relay          (BENCH_QUICK=1 for a short run that only checks it works)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { weriftPeers } from '../src/relay-host/direct-host.ts';
import { hostIdOf, rawPublicKey, signChallenge } from '../src/relay/identity.ts';
import { WireOp, encodeWire } from '../src/relay/wire.ts';
import { TunnelClient } from '../src/tunnel/client.ts';
import { importPairingSecret } from '../src/tunnel/handshake.ts';
import { parsePairingFragment } from '../src/tunnel/pairing-link.ts';
import { ROOT, percentile, row, rssOf, sleep, startKeel, startServerProcess, type BenchResult, type BenchRow } from './lib.ts';

const MB = 1024 * 1024;
const quick = process.env.BENCH_QUICK === '1';
const ECHO_ROUNDS = quick ? 40 : 400;
const BULK_BYTES = (quick ? 4 : 48) * MB;
const IDLE_TUNNELS = quick ? 200 : 1_000;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A terminal socket, whatever carries it. */
interface TermSocket {
  send(bytes: Uint8Array): void;
  onOutput: ((text: string) => void) | null;
  close(): void;
}

function directSocket(base: string, token: string, id: string): Promise<TermSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/terminals/${id}/ws`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const t: TermSocket = { send: (b) => ws.send(b), onOutput: null, close: () => ws.close() };
    ws.on('message', (d: Buffer) => {
      if (d[0] !== 0x6f && d[0] !== 0x73) return;
      ws.send(`a${d.length - 1}`);
      t.onOutput?.(d.subarray(1).toString('utf8'));
    });
    ws.once('open', () => resolve(t));
    ws.once('error', reject);
  });
}

async function tunnelSocket(c: TunnelClient, id: string): Promise<TermSocket> {
  const s = await c.ready(20_000);
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const t: TermSocket = { send: (b) => ws.send(b, true), onOutput: null, close: () => ws.close(1000, '') };
  const ws = s.webSocket(`/api/terminals/${id}/ws`, [], {
    onopen: () => open(),
    onmessage: (d) => {
      if (d[0] !== 0x6f && d[0] !== 0x73) return;
      ws.send(enc.encode(`a${d.length - 1}`), true);
      t.onOutput?.(dec.decode(d.subarray(1)));
    },
    onclose: () => {},
  });
  await opened;
  return t;
}

/** Keystroke → echo, `ECHO_ROUNDS` times; the line is cleared (Ctrl-U) now and then so it stays short. */
async function echo(t: TermSocket): Promise<number[]> {
  await sleep(300);
  const rtts: number[] = [];
  for (let i = 0; i < ECHO_ROUNDS; i++) {
    const got = new Promise<void>((resolve) => {
      t.onOutput = (text) => {
        if (text.includes('x')) resolve();
      };
    });
    const t0 = performance.now();
    t.send(enc.encode('ix'));
    await got;
    rtts.push(performance.now() - t0);
    if (i % 40 === 39) {
      t.onOutput = null;
      t.send(enc.encode('i\x15'));
      await sleep(20);
    }
  }
  t.onOutput = null;
  return rtts.sort((a, b) => a - b);
}

/** MB/s fetching `file` repeatedly until BULK_BYTES have arrived. */
async function bulk(get: () => Promise<number>): Promise<number> {
  let bytes = 0;
  const t0 = performance.now();
  while (bytes < BULK_BYTES) bytes += await get();
  return bytes / MB / ((performance.now() - t0) / 1000);
}

async function tunnelGet(c: TunnelClient, p: string): Promise<number> {
  const s = await c.ready(20_000);
  const r = await s.request({ method: 'GET', path: p, headers: [] });
  let n = 0;
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
  }
  return n;
}

/** The smallest host there is: proves its key, answers each tunnel once (so the relay counts it answered), then stays silent. */
async function minimalHost(relayWs: string): Promise<{ hostId: string; ws: WebSocket }> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  const ws = new WebSocket(`${relayWs}/relay/host`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d: Buffer, binary: boolean) => {
      if (binary) {
        if (d[0] === WireOp.open) ws.send(encodeWire(WireOp.data, d.readUInt32BE(1), Buffer.from('hi')));
        return;
      }
      const m = JSON.parse(d.toString()) as { type: string; nonce?: string };
      if (m.type === 'challenge') ws.send(JSON.stringify({ type: 'register', v: 1, publicKey: raw.toString('base64url'), signature: signChallenge(privateKey, Buffer.from(m.nonce!, 'base64url')).toString('base64url') }));
      if (m.type === 'registered') resolve();
    });
    ws.once('error', reject);
  });
  return { hostId: hostIdOf(raw), ws };
}

function startRelayProcess() {
  return startServerProcess(
    [
      path.join(ROOT, 'src/cli.ts'),
      'relay',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--log-level',
      'warn',
      '--relay-max-tunnels-per-host',
      String(IDLE_TUNNELS + 16),
      '--relay-max-tunnels',
      String(IDLE_TUNNELS + 64),
      '--relay-handshake-timeout-ms',
      '300000',
      '--relay-idle-timeout-ms',
      '3600000',
    ],
    /Keel relay is running:\s+(\S+)/,
    { what: 'keel relay' },
  );
}

/** Opens `n` browser sockets to `hostId` (50 at a time), each waiting for the relay's hello. */
async function openIdle(relayWs: string, hostId: string, n: number, into: WebSocket[]): Promise<void> {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, () =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`${relayWs}/relay/connect/${hostId}`, { perMessageDeflate: false });
          into.push(ws);
          ws.once('message', () => resolve());
          ws.once('error', reject);
        }),
      ),
    );
  }
}

export default async function run(): Promise<BenchResult> {
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const { child: relayChild, match } = await startRelayProcess();
  const relayUrl = match[1]!;
  let idleRelay: Awaited<ReturnType<typeof startRelayProcess>>['child'] | undefined;
  const keel = await startKeel(['--relay', relayUrl, '--relay-direct-addresses', '127.0.0.1']);
  const clients: TunnelClient[] = [];
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; (await keel.get('/api/relay')).state !== 'registered'; i++) {
      if (i > 200) throw new Error('the host did not register at the relay');
      await sleep(50);
    }
    const auth = { authorization: `Bearer ${keel.token}`, 'content-type': 'application/json' };
    const made = (await (await fetch(`${keel.base}/api/relay/pairings`, { method: 'POST', headers: auth, body: '{"name":"bench"}' })).json()) as { link: string };
    const p = parsePairingFragment(new URL(made.link).hash)!;
    const term = (await (await fetch(`${keel.base}/api/terminals`, { method: 'POST', headers: auth, body: JSON.stringify({ cols: 120, rows: 40 }) })).json()) as { id: string };
    const assets = fs.readdirSync(path.join(ROOT, 'web/dist/assets')).map((f) => ({ f, size: fs.statSync(path.join(ROOT, 'web/dist/assets', f)).size }));
    const biggest = `/assets/${assets.sort((a, b) => b.size - a.size)[0]!.f}`;

    const client = async (direct: boolean) => {
      const c = new TunnelClient({
        url: `${relayUrl.replace('http', 'ws')}/relay/connect/${p.hostId}`,
        hostId: p.hostId,
        pairingId: p.pairingId,
        psk: await importPairingSecret(p.secret),
        direct: direct ? { makePeer: weriftPeers({ addresses: ['127.0.0.1'] }), retryMs: 3_600_000 } : undefined,
      });
      clients.push(c);
      c.start();
      const s = await c.ready(20_000);
      if (direct) for (let i = 0; s.path !== 'direct'; i++) {
        if (i > 400) throw new Error('the direct path did not open');
        await sleep(50);
      }
      return c;
    };

    const ways: [string, () => Promise<{ sock: TermSocket; get: () => Promise<number> }>][] = [
      ['direct to Keel', async () => ({ sock: await directSocket(keel.base, keel.token, term.id), get: async () => (await (await fetch(keel.base + biggest)).arrayBuffer()).byteLength })],
      ['through the relay', async () => {
        const c = await client(false);
        return { sock: await tunnelSocket(c, term.id), get: () => tunnelGet(c, biggest) };
      }],
      ['over WebRTC', async () => {
        const c = await client(true);
        return { sock: await tunnelSocket(c, term.id), get: () => tunnelGet(c, biggest) };
      }],
    ];
    for (const [name, open] of ways) {
      const { sock, get } = await open();
      const rtts = await echo(sock);
      rows.push(row(`echo p50, ${name}`, percentile(rtts, 50), 'ms'));
      rows.push(row(`echo p99, ${name}`, percentile(rtts, 99), 'ms'));
      rows.push(row(`throughput, ${name}`, await bulk(get), 'MB/s'));
      sock.close();
    }
    for (const c of clients) c.stop();

    // Idle tunnels, on a relay of their own (the runs above left buffers for its GC to return):
    // warmed with a few tunnels that come and go, then RSS before and after IDLE_TUNNELS.
    relayChild.kill('SIGTERM');
    const idle = await startRelayProcess();
    idleRelay = idle.child;
    const idleUrl = idle.match[1]!;
    const relayWs = idleUrl.replace('http', 'ws');
    const host = await minimalHost(relayWs);
    sockets.push(host.ws);
    const warm: WebSocket[] = [];
    await openIdle(relayWs, host.hostId, 50, warm);
    for (const w of warm) w.close();
    await sleep(2_000);
    const before = rssOf(idle.child.pid!);
    await openIdle(relayWs, host.hostId, IDLE_TUNNELS, sockets);
    await sleep(2_000);
    const after = rssOf(idle.child.pid!);
    const stats = (await (await fetch(`${idleUrl}/debug/memory`)).json()) as { subsystems: { relay: { tunnels: number } } };
    rows.push(row(`relay RSS, ${stats.subsystems.relay.tunnels} idle tunnels`, after / MB, 'MB'));
    rows.push(row('relay RSS per idle tunnel', (after - before) / 1024 / IDLE_TUNNELS, 'KB', { op: '<=', limit: 64 }));
    notes.push(`loopback, one machine: the relay and WebRTC figures are their overhead (encryption, framing, an extra process hop), not a network's; ${quick ? 'BENCH_QUICK run, short' : 'full run'}`);
    notes.push(`throughput: ${biggest} (${(assets[0]!.size / 1024).toFixed(0)} KB) fetched until ${BULK_BYTES / MB} MB; echo: ${ECHO_ROUNDS} keystrokes to /bin/sh`);
  } finally {
    for (const c of clients) c.stop();
    for (const s of sockets) s.terminate();
    await keel.stop();
    relayChild.kill('SIGTERM');
    idleRelay?.kill('SIGTERM');
  }
  return { name: 'relay', rows, notes };
}

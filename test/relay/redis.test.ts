/**
 * Several relays through a real redis-server (started here): a browser on relay B reaches a host
 * connected to relay A; when A dies, the host moves to B (its --relay lists both) and the browser's
 * tunnel comes back by itself, the terminal with its screen. The queue towards Redis is bounded:
 * with Redis frozen, the tunnel that would pass --relay-redis-max-queued-bytes is closed with 4429
 * and the relay's memory does not grow. Garbage and oversized pub/sub messages are dropped.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import type { TunnelClient } from '../../src/tunnel/client.ts';
import { openTerminal, pair, startHost, startRelay, tunnelClient, waitRegistered, waitUntil, type HostProc, type RelayProc } from './harness.ts';
import { redisServerBinary, startRedis, type RedisProc } from './redis-server.ts';

const binary = redisServerBinary();
const skip = typeof binary === 'string' ? false : binary.missing;

type Stats = Record<'hosts' | 'tunnels' | 'redis_remote_tunnels' | 'redis_proxied_tunnels' | 'redis_queued_bytes' | 'redis_over_queue' | 'redis_dropped_frames', number>;

async function relayStats(r: RelayProc): Promise<Stats> {
  return ((await (await fetch(`${r.url}/debug/memory`)).json()) as { subsystems: { relay: Stats } }).subsystems.relay;
}

async function hostRelay(h: HostProc): Promise<{ relay: string; state: string }> {
  return (await (await fetch(`${h.url}/api/relay`, { headers: h.auth })).json()) as { relay: string; state: string };
}

describe('relays sharing Redis', { skip }, () => {
  let redis: RedisProc;
  const relays: RelayProc[] = [];
  const hosts: HostProc[] = [];
  const clients: TunnelClient[] = [];
  const meshArgs = (url: string) => ['--relay-redis-url', url, '--relay-redis-ttl-ms', '3000'];
  before(async () => {
    redis = await startRedis(binary as string);
  });
  after(async () => {
    for (const c of clients) c.stop();
    for (const h of hosts) {
      await h.kill();
      fs.rmSync(h.dataDir, { recursive: true, force: true });
    }
    for (const r of relays) await r.kill();
    await redis?.stop();
  });

  it('a browser on relay B uses a host on relay A; A dies, the host moves to B and the browser resumes', async () => {
    const a = await startRelay({ args: meshArgs(redis.url) });
    const b = await startRelay({ args: meshArgs(redis.url) });
    relays.push(a, b);
    const host = await startHost(`${a.url},${b.url}`);
    hosts.push(host);
    assert.equal((await hostRelay(host)).relay, a.url);
    const { parsed } = await pair(host);

    const states: string[] = [];
    const c = await tunnelClient(b.url, parsed, states);
    clients.push(c);
    const t = await openTerminal(c);
    t.type('echo through-b-to-a-$((7*6))\n');
    await waitUntil(() => t.output().includes('through-b-to-a-42'), 'output from the host on A, through B');
    const sa = await relayStats(a);
    const sb = await relayStats(b);
    assert.equal(sb.redis_remote_tunnels, 1, 'B reaches the host through A');
    assert.equal(sa.redis_proxied_tunnels, 1, 'A carries the tunnel for B');
    assert.equal(sb.hosts, 0);
    assert.equal(sa.hosts, 1);

    // Relay A dies: its sockets go, the host moves to B, the browser's tunnel reopens on B by itself.
    const mark = states.length;
    await a.kill('SIGKILL');
    await waitUntil(async () => (await hostRelay(host)).relay === b.url && (await hostRelay(host)).state === 'registered', 'the host to register on B', 30_000);
    await waitUntil(() => c.state === 'open' && states.slice(mark).some((s) => s.startsWith('reconnecting')), 'the browser to reconnect', 30_000);
    await waitUntil(async () => (await relayStats(b)).hosts === 1 && (await relayStats(b)).redis_remote_tunnels === 0, 'the tunnel to be local on B');

    // The terminal resumes: its screen comes back as a snapshot, and it takes input.
    const again = await reattach(c, t.id);
    await waitUntil(() => again.output().includes('through-b-to-a-42'), 'the screen from before, as a snapshot');
    again.type('echo after-a-died-$((5+5))\n');
    await waitUntil(() => again.output().includes('after-a-died-10'), 'new output on B');
  });

  it('bounds the queue towards Redis: with Redis frozen, the tunnel that passes --relay-redis-max-queued-bytes closes with 4429', async () => {
    const args = [...meshArgs(redis.url), '--relay-redis-max-queued-bytes', String(1024 * 1024), '--relay-max-queued-bytes', String(1024 * 1024)];
    const a = await startRelay({ args });
    const b = await startRelay({ args });
    relays.push(a, b);
    const host = await startHost(a.url);
    hosts.push(host);
    const hostId = (await (await fetch(`${host.url}/api/relay`, { headers: host.auth })).json()).host_id as string;
    const rssBefore = (await (await fetch(`${b.url}/debug/memory`)).json()).memory.rss_mb as number;

    // Raw sockets on B for the host on A (the relay forwards opaque frames; no handshake needed to fill a queue).
    const socks: { ws: WebSocket; closed: Promise<{ code: number; reason: string }> }[] = [];
    for (let i = 0; i < 3; i++) {
      const ws = new WebSocket(`${b.url.replace('http', 'ws')}/relay/connect/${hostId}`, { perMessageDeflate: false });
      const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
      await new Promise((r) => ws.once('message', r)); // The relay's hello.
      socks.push({ ws, closed });
    }
    await waitUntil(async () => (await relayStats(a)).redis_proxied_tunnels === 3, 'three tunnels across');
    redis.child.kill('SIGSTOP');
    try {
      const chunk = Buffer.alloc(60 * 1024, 7);
      for (let i = 0; i < 10; i++) for (const s of socks) if (s.ws.readyState === WebSocket.OPEN) s.ws.send(chunk);
      const first = await Promise.race(socks.map((s) => s.closed));
      assert.equal(first.code, 4429);
      assert.match(first.reason, /redis-max-queued-bytes/);
      const st = await relayStats(b);
      assert.ok(st.redis_queued_bytes <= 1024 * 1024, `queued ${st.redis_queued_bytes}`);
      assert.ok(st.redis_over_queue >= 1);
    } finally {
      redis.child.kill('SIGCONT');
    }
    for (const s of socks) s.ws.close();
    await waitUntil(async () => (await relayStats(b)).redis_queued_bytes === 0 && (await relayStats(b)).tunnels === 0, 'the queue to drain and the tunnels to go');
    const rssAfter = (await (await fetch(`${b.url}/debug/memory`)).json()).memory.rss_mb as number;
    assert.ok(rssAfter - rssBefore < 64, `relay B grew ${rssAfter - rssBefore} MB`);
  });

  it('drops garbage and oversized pub/sub messages without harm', async () => {
    const b = relays.at(-1)!;
    const r = new Redis(redis.url);
    try {
      const channels = (await r.pubsub('CHANNELS', 'keel:relay:to:*')) as string[];
      assert.ok(channels.length >= 1);
      const before = (await relayStats(b)).redis_dropped_frames;
      for (const ch of channels) {
        await r.publish(ch, Buffer.alloc(0));
        await r.publish(ch, Buffer.from([9, 1, 2, 3]));
        await r.publish(ch, Buffer.concat([Buffer.from([1]), Buffer.alloc(30, 0x41)]));
        await r.publish(ch, Buffer.alloc(2 * 1024 * 1024, 1));
        await r.publish('keel:relay:registered', 'garbage');
      }
      await waitUntil(async () => (await relayStats(b)).redis_dropped_frames > before, 'the relay to count dropped messages');
      assert.equal((await fetch(`${b.url}/healthz`)).status, 200);
    } finally {
      r.disconnect();
    }
  });
});

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Opens an existing terminal's socket again (what the page does after a reconnect). */
async function reattach(c: TunnelClient, id: string) {
  const s = await c.ready(20_000);
  let output = '';
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const ws = s.webSocket(`/api/terminals/${id}/ws`, [], {
    onopen: () => open(),
    onmessage: (d) => {
      if (d[0] === 0x6f || d[0] === 0x73) {
        output += dec.decode(d.subarray(1));
        ws.send(enc.encode(`a${d.length - 1}`), true);
      }
    },
    onclose: () => {},
  });
  await opened;
  return { output: () => output, type: (text: string) => ws.send(enc.encode('i' + text), true) };
}

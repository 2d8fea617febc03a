/**
 * The relay's limits, each driven past its value with real WebSockets against a relay on port 0:
 * hosts, tunnels, tunnels per host, queued bytes per tunnel (both directions), frame size,
 * registration and tunnel-answer timeouts, idle timeout, ping; refusals carry a close code and a
 * reason; counters return to zero after many tunnels come and go.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { loadOptions } from '../config/load.ts';
import type { KeelOptions } from '../config/options.ts';
import { FakeClock } from '../core/clock.ts';
import { TunnelClose } from '../tunnel/errors.ts';
import { hostIdOf, rawPublicKey, signChallenge } from './identity.ts';
import { createRelayServer, type RelayServer } from './server.ts';
import { WireOp, decodeWire, encodeWire } from './wire.ts';

const servers: RelayServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function relay(o: Partial<KeelOptions> = {}, clock?: FakeClock) {
  const s = await createRelayServer(loadOptions({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', ...o } }), { clock });
  servers.push(s);
  const url = (await s.listen()).replace('http', 'ws');
  return { s, url };
}

type Inboxed = WebSocket & { inbox: { data: Buffer; binary: boolean }[] };

/** Opens a socket whose messages are collected from the first one (the relay speaks first). */
function open(url: string, headers: Record<string, string> = {}, onMessage?: (d: Buffer, binary: boolean, ws: WebSocket) => void): Promise<Inboxed> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false }) as Inboxed;
    ws.inbox = [];
    ws.on('message', (data: Buffer, binary: boolean) => {
      ws.inbox.push({ data, binary });
      onMessage?.(data, binary, ws);
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** A host that registers with a fresh key; `frames` collects the binary messages the relay sends it. */
async function host(url: string, o: { register?: boolean; badSignature?: boolean } = {}) {
  const key = crypto.generateKeyPairSync('ed25519').privateKey;
  const pub = rawPublicKey(crypto.createPublicKey(key));
  const frames: Buffer[] = [];
  let onRegistered!: () => void;
  const registered = new Promise<void>((resolve) => (onRegistered = resolve));
  const ws = await open(`${url}/relay/host`, {}, (d: Buffer, binary: boolean, ws: WebSocket) => {
      if (binary) return void frames.push(d);
      const m = JSON.parse(d.toString());
      if (m.type === 'challenge' && o.register !== false) {
        const sig = signChallenge(key, Buffer.from(m.nonce, 'base64url'));
        if (o.badSignature) sig[0]! ^= 1;
        ws.send(JSON.stringify({ type: 'register', v: 1, publicKey: pub.toString('base64url'), signature: sig.toString('base64url') }));
      }
      if (m.type === 'registered') onRegistered();
  });
  return { ws, hostId: hostIdOf(pub), frames, registered };
}

async function registeredHost(url: string) {
  const h = await host(url);
  await h.registered;
  return h;
}

describe('relay limits', () => {
  it('registers a host only with a valid signature (4401), and refuses hosts past --relay-max-hosts (1013)', async () => {
    const { s, url } = await relay({ relayMaxHosts: 2 });
    const bad = await host(url, { badSignature: true });
    assert.deepEqual((await closed(bad.ws)).code, TunnelClose.registrationFailed);
    const a = await registeredHost(url);
    await registeredHost(url);
    assert.equal(s.relay.hostCount, 2);
    const c = await host(url);
    const r = await closed(c.ws);
    assert.equal(r.code, 1013);
    assert.match(r.reason, /relay_hosts is at its limit of 2/);
    a.ws.close();
    await closed(a.ws);
    await registeredHost(url);
    assert.equal(s.relay.hostCount, 2);
  });

  it('refuses browsers: malformed host id (4400), unknown host (4404), past --relay-max-tunnels-per-host and --relay-max-tunnels (1013)', async () => {
    const { s, url } = await relay({ relayMaxTunnelsPerHost: 2, relayMaxTunnels: 3 });
    const b0 = await open(`${url}/relay/connect/not-an-id`);
    assert.equal((await closed(b0)).code, TunnelClose.badRequest);
    const b1 = await open(`${url}/relay/connect/${'A'.repeat(22)}`);
    const r1 = await closed(b1);
    assert.equal(r1.code, TunnelClose.hostNotConnected);
    assert.match(r1.reason, /not connected/);
    const h1 = await registeredHost(url);
    const h2 = await registeredHost(url);
    const t = [await open(`${url}/relay/connect/${h1.hostId}`), await open(`${url}/relay/connect/${h1.hostId}`)];
    const over = await open(`${url}/relay/connect/${h1.hostId}`);
    const r2 = await closed(over);
    assert.equal(r2.code, 1013);
    assert.match(r2.reason, /--relay-max-tunnels-per-host/);
    t.push(await open(`${url}/relay/connect/${h2.hostId}`));
    const total = await open(`${url}/relay/connect/${h2.hostId}`);
    const r3 = await closed(total);
    assert.equal(r3.code, 1013);
    assert.match(r3.reason, /relay_tunnels is at its limit of 3/);
    assert.equal(s.relay.tunnelCount, 3);
    for (const w of t) w.close();
    await Promise.all(t.map(closed));
    await waitFor(() => s.relay.tunnelCount === 0);
  });

  it('forwards frames both ways, opaque, and tells each side of the other’s close', async () => {
    const { url } = await relay();
    const h = await registeredHost(url);
    const b = await open(`${url}/relay/connect/${h.hostId}`);
    await waitFor(() => b.inbox.length === 1);
    assert.ok(JSON.parse(b.inbox[0]!.data.toString()).windowBytes > 0);
    await waitFor(() => h.frames.length === 1);
    const opened = decodeWire(h.frames[0]!)!;
    assert.equal(opened.op, WireOp.open);
    b.send(Buffer.from('opaque'));
    await waitFor(() => h.frames.length === 2);
    assert.equal(decodeWire(h.frames[1]!)!.payload.toString(), 'opaque');
    const got = new Promise<string>((resolve) => b.once('message', (d) => resolve(d.toString())));
    h.ws.send(encodeWire(WireOp.data, opened.tunnel, Buffer.from('back')));
    assert.equal(await got, 'back');
    b.close(4001, 'tampered');
    await waitFor(() => h.frames.length === 3);
    const c = decodeWire(h.frames[2]!)!;
    assert.equal(c.op, WireOp.close);
    assert.equal(c.payload.readUInt16BE(0), 4001);
  });

  it('closes a browser socket that sends a frame over --relay-max-frame-bytes (1009)', async () => {
    const { url } = await relay({ relayMaxFrameBytes: 72 * 1024 });
    const h = await registeredHost(url);
    const b = await open(`${url}/relay/connect/${h.hostId}`);
    b.send(Buffer.alloc(72 * 1024 + 1));
    assert.equal((await closed(b)).code, 1009);
  });

  for (const dir of ['toHost', 'toBrowser'] as const) {
    it(`closes a tunnel whose queue ${dir} passes --relay-max-queued-bytes (4429), without touching the host's other tunnels`, async () => {
      const { s, url } = await relay({ relayMaxQueuedBytes: 256 * 1024 });
      const h = await registeredHost(url);
      const flood = await open(`${url}/relay/connect/${h.hostId}`);
      const other = await open(`${url}/relay/connect/${h.hostId}`);
      await waitFor(() => h.frames.length === 2);
      const tid = decodeWire(h.frames[0]!)!.tunnel;
      // The receiving side stops reading: the relay's writes stop flushing once the kernel's buffers are full.
      const receiver = dir === 'toHost' ? h.ws : flood;
      (receiver as unknown as { _socket: import('node:net').Socket })._socket.pause();
      const chunk = Buffer.alloc(64 * 1024, 7);
      const r = closed(flood);
      for (let i = 0; i < 600 && flood.readyState === WebSocket.OPEN; i++) {
        if (dir === 'toHost') flood.send(chunk);
        else h.ws.send(encodeWire(WireOp.data, tid, chunk));
        if (i % 16 === 0) await new Promise((res) => setImmediate(res));
      }
      if (dir === 'toBrowser') (receiver as unknown as { _socket: import('node:net').Socket })._socket.resume();
      const res = await r;
      assert.equal(res.code, TunnelClose.queueFull);
      assert.match(res.reason, /--relay-max-queued-bytes/);
      if (dir === 'toHost') (receiver as unknown as { _socket: import('node:net').Socket })._socket.resume();
      await waitFor(() => s.relay.counters.queuedBytes === 0, 10_000);
      assert.equal(s.relay.counters.closedOverQueue, 1);
      assert.equal(other.readyState, WebSocket.OPEN, 'the host’s other tunnel stays open');
      assert.equal(s.relay.tunnelCount, 1);
    });
  }

  it('times out a host that does not register and a tunnel its host does not answer (4408), and idle tunnels', async () => {
    const clock = new FakeClock(1_000_000);
    const { s, url } = await relay({ relayHandshakeTimeoutMs: 2_000, relayIdleTimeoutMs: 10_000 }, clock);
    const silent = await host(url, { register: false });
    const h = await registeredHost(url);
    const b = await open(`${url}/relay/connect/${h.hostId}`);
    clock.advance(2_001);
    const [r1, r2] = await Promise.all([closed(silent.ws), closed(b)]);
    assert.equal(r1.code, TunnelClose.timeout);
    assert.match(r1.reason, /did not register/);
    assert.equal(r2.code, TunnelClose.timeout);
    assert.match(r2.reason, /did not answer/);
    const b2 = await open(`${url}/relay/connect/${h.hostId}`);
    await waitFor(() => h.frames.filter((f) => decodeWire(f)!.op === WireOp.open).length === 2);
    const tid = decodeWire(h.frames.filter((f) => decodeWire(f)!.op === WireOp.open)[1]!)!.tunnel;
    h.ws.send(encodeWire(WireOp.data, tid, Buffer.from('answer')));
    await waitFor(() => b2.inbox.some((m) => m.data.toString() === 'answer'));
    clock.advance(5_000);
    await new Promise((r) => setTimeout(r, 1_200));
    assert.equal(b2.readyState, WebSocket.OPEN, 'an answered tunnel is not timed out at the handshake limit');
    clock.advance(10_001);
    const r3 = await closed(b2);
    assert.equal(r3.code, TunnelClose.timeout);
    assert.match(r3.reason, /idle/);
  });

  it('terminates a socket that stops answering pings (--relay-ping-ms)', async () => {
    const { s, url } = await relay({ relayPingMs: 1_000 });
    const h = await registeredHost(url);
    (h.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    await waitFor(() => s.relay.hostCount === 0, 10_000);
  });

  it('returns to zero after 300 tunnels come and go (maps, slots, queued bytes)', async () => {
    const { s, url } = await relay();
    const h = await registeredHost(url);
    for (let i = 0; i < 300; i++) {
      const b = await open(`${url}/relay/connect/${h.hostId}`);
      b.send(Buffer.alloc(1000));
      b.close();
      await closed(b);
    }
    await waitFor(() => s.relay.tunnelCount === 0);
    assert.equal(s.relay.tunnelSlots.inUse, 0);
    assert.equal(s.relay.counters.queuedBytes, 0);
    assert.equal(s.relay.stats().tunnels, 0);
  });

  it('serves the relay page with its marker and CSP, and guards /metrics and /debug to direct loopback or the admin token', async () => {
    const { s } = await relay({ relayAdminToken: 'a'.repeat(20) });
    const page = await s.app.inject('/');
    if (page.statusCode === 200) {
      assert.match(page.body, /name="keel-relay"/);
      assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    }
    assert.equal((await s.app.inject('/metrics')).statusCode, 403);
    const ok = await s.app.inject({ url: '/debug/memory', headers: { authorization: `Bearer ${'a'.repeat(20)}` } });
    assert.equal(ok.statusCode, 200);
    assert.ok(ok.json().subsystems.relay);
    assert.equal((await s.app.inject('/healthz')).statusCode, 200);
  });
});

async function waitFor(fn: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`condition not met: ${fn.toString()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

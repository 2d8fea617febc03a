/**
 * The direct path with real processes: a relay, a host offering WebRTC (werift) on loopback, and
 * the browser's tunnel client in Node answering with werift too (Chromium's own RTCPeerConnection
 * is in direct-browser.test.ts). Traffic moves to the data channel — the relay's byte counters
 * stop growing while the terminal keeps working — and falls back to the relay, without losing or
 * repeating a byte and without the tunnel reconnecting, when the direct path is closed from
 * either side, also in the middle of a flood.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { weriftPeers } from '../../src/relay-host/direct-host.ts';
import type { TunnelClient } from '../../src/tunnel/client.ts';
import { openTerminal, pair, relayCounters, startHost, startRelay, tunnelClient, waitUntil, type HostProc, type RelayProc } from './harness.ts';

describe('direct WebRTC path (werift at both ends)', () => {
  let relay: RelayProc;
  let host: HostProc;
  let c: TunnelClient;
  const states: string[] = [];
  const paths: string[] = [];
  before(async () => {
    relay = await startRelay();
    host = await startHost(relay.url, { args: ['--relay-direct-addresses', '127.0.0.1'] });
  });
  after(async () => {
    c?.stop();
    await host?.kill();
    await relay?.kill();
    if (host) fs.rmSync(host.dataDir, { recursive: true, force: true });
  });

  const relayBytes = async () => {
    const r = await relayCounters(relay.url);
    return r.bytes_to_host + r.bytes_to_browser;
  };
  const hostDirect = async () => ((await (await fetch(`${host.url}/api/relay`, { headers: host.auth })).json()) as { direct: number }).direct;

  it('moves the terminal to the data channel, falls back when either side closes it, and never drops the tunnel', async () => {
    const { parsed } = await pair(host);
    c = await tunnelClient(relay.url, parsed, states, {
      direct: { makePeer: weriftPeers({ addresses: ['127.0.0.1'] }), retryMs: 60_000 },
      onPath: (p, why) => paths.push(`${p}: ${why}`),
    });
    const t = await openTerminal(c);
    const session = c.session!;
    await waitUntil(() => session.path === 'direct', 'the direct path to open', 30_000);
    // Typed the moment the path opens (its first frames can beat the host's listener): it arrives directly, no fallback needed.
    t.type('echo first-direct-$((2*3))\n');
    await waitUntil(() => t.output().includes('first-direct-6'), 'the first command over the new path', 30_000);
    assert.equal(session.pathInfo().fallbacks, 0, JSON.stringify(session.pathInfo()));
    await waitUntil(async () => (await hostDirect()) === 1, 'the host to send directly too');

    // A flood through the terminal: the relay carries none of it.
    const before = await relayBytes();
    t.type('seq 1 40000 | tail -n 20000; echo flood-$((20+3))-done\n');
    await waitUntil(() => t.output().includes('flood-23-done'), 'the flood to arrive', 60_000);
    const grew = (await relayBytes()) - before;
    assert.ok(grew < 2_000, `the relay carried ${grew} bytes of a ~120 KB flood (keepalives only)`);

    // Closed from the host side: the next command goes through the relay.
    const r = await fetch(`${host.url}/api/relay/direct/drop`, { method: 'POST', headers: host.auth });
    assert.deepEqual(await r.json(), { dropped: 1 });
    await waitUntil(() => session.path === 'relayed', 'the browser to fall back');
    const atFallback = await relayBytes();
    t.type('echo relayed-$((40+2))\n');
    await waitUntil(() => t.output().includes('relayed-42'), 'output over the relay');
    assert.ok((await relayBytes()) - atFallback > 100, 'the relay carries the traffic again');

    // Back to direct (the host takes one attempt per 2 s), then closed from the browser side in the middle of a flood: nothing lost, nothing twice.
    await new Promise((r) => setTimeout(r, 2_100));
    session.tryDirect();
    await waitUntil(() => session.path === 'direct', 'the direct path to open again', 30_000);
    // Paced (a pause every 100 lines) so the drop lands in the middle of it.
    t.type('for i in $(seq 1 3000); do echo "line-$i"; [ $((i % 100)) = 0 ] && sleep 0.05; done; echo flood2-$((1+1))-done\n');
    await waitUntil(() => t.output().includes('line-1000'), 'the second flood under way', 30_000);
    session.dropDirect('closed by the test');
    assert.ok(!t.output().includes('line-3000'), 'the drop came in the middle of the flood');
    await waitUntil(() => t.output().includes('flood2-2-done'), 'the second flood to end', 60_000);
    const lines = [...t.output().matchAll(/^line-(\d+)\r?$/gm)].map((m) => Number(m[1]));
    const tail = lines.slice(lines.lastIndexOf(1));
    assert.deepEqual(tail, Array.from({ length: 3000 }, (_, i) => i + 1), 'every line once, in order, across the fallback');
    assert.equal(session.path, 'relayed');
    t.type('echo still-$((3*3))\n');
    await waitUntil(() => t.output().includes('still-9'), 'the terminal to keep working');

    assert.equal(c.session, session, 'the tunnel never reconnected');
    assert.equal(t.closed(), undefined, 'the terminal socket never closed');
    assert.ok(!states.some((s) => s.startsWith('reconnecting')), states.join(' | '));
    assert.ok(paths.filter((p) => p.startsWith('direct')).length >= 2, paths.join(' | '));
  });

  it('leaves no socket or peer connection behind after direct paths come and go', async () => {
    const session = c.session!;
    const fds = () => fs.readdirSync(`/proc/${host.child.pid}/fd`).length;
    const cycle = async () => {
      // The host refuses attempts closer than 2 s apart.
      await new Promise((r) => setTimeout(r, 2_100));
      session.tryDirect();
      await waitUntil(() => session.path === 'direct', 'a direct path', 30_000);
      session.dropDirect('cycle');
      await waitUntil(async () => session.path === 'relayed' && (await hostDirect()) === 0, 'the fallback');
    };
    await cycle();
    const before = fds();
    for (let i = 0; i < 5; i++) await cycle();
    await new Promise((r) => setTimeout(r, 500));
    const after = fds();
    assert.ok(after - before <= 2, `host file descriptors ${before} → ${after} over 5 direct paths`);
    assert.equal(c.session, session);
  });
});

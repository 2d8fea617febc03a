/**
 * The host's own limits on what a relay and its browsers may make it hold: streams per tunnel,
 * tunnels, pairings, unused-link expiry; revocation closes open tunnels. In-process relay and Keel,
 * the browser's tunnel client.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadOptions } from '../../src/config/load.ts';
import type { KeelOptions } from '../../src/config/options.ts';
import { createRelayServer, type RelayServer } from '../../src/relay/server.ts';
import { TunnelClose } from '../../src/tunnel/errors.ts';
import { parsePairingFragment } from '../../src/tunnel/pairing-link.ts';
import { pairingUrl } from '../../src/tunnel/pairing-link.ts';
import { startKeel, type TestKeel } from '../helpers.ts';
import { tunnelClient, waitUntil } from './harness.ts';

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function setup(o: Partial<KeelOptions> = {}) {
  const relay: RelayServer = await createRelayServer(loadOptions({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent' } }));
  const relayUrl = await relay.listen();
  cleanup.push(() => relay.close());
  const k: TestKeel = await startKeel({ relay: relayUrl, ...o });
  cleanup.push(() => k.close());
  await waitUntil(async () => ((await (await fetch(`${k.url}/api/relay`, { headers: k.authHeaders })).json()) as { state: string }).state === 'registered', 'registration');
  const pairLink = async () => {
    const res = await fetch(`${k.url}/api/relay/pairings`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{}' });
    return { status: res.status, body: (await res.json()) as { link: string; pairing: { id: string }; error?: string } };
  };
  return { relay, relayUrl, k, pairLink };
}

describe('host limits', () => {
  it('resets a request past --relay-max-streams-per-tunnel with too_many_streams; the others go on', async () => {
    const { relayUrl, pairLink } = await setup({ relayMaxStreamsPerTunnel: 4 });
    const p = parsePairingFragment(new URL((await pairLink()).body.link).hash)!;
    const c = await tunnelClient(relayUrl, p);
    cleanup.push(async () => c.stop());
    const s = await c.ready(10_000);
    const held = await Promise.all([1, 2, 3, 4].map(() => s.request({ method: 'GET', path: '/stream?from=0', headers: [['accept', 'text/event-stream']] })));
    assert.deepEqual(held.map((r) => r.status), [200, 200, 200, 200]);
    await assert.rejects(s.request({ method: 'GET', path: '/api/relay', headers: [] }), /Too many requests open through this tunnel/);
    for (const r of held) await r.body.cancel();
    await waitUntil(async () => {
      const r = await s.request({ method: 'GET', path: '/api/relay', headers: [] }).catch(() => undefined);
      return r?.status === 200;
    }, 'a request to pass once streams closed');
  });

  it('refuses a tunnel past --relay-host-max-tunnels with 4005 (the page retries)', async () => {
    const { relayUrl, pairLink } = await setup({ relayHostMaxTunnels: 1 });
    const p = parsePairingFragment(new URL((await pairLink()).body.link).hash)!;
    const a = await tunnelClient(relayUrl, p);
    cleanup.push(async () => a.stop());
    await a.ready(10_000);
    const b = await tunnelClient(relayUrl, p);
    cleanup.push(async () => b.stop());
    const err = await waitUntil(() => b.lastError, 'the second tunnel to be refused');
    assert.equal(err.closeCode, TunnelClose.hostBusy);
    assert.notEqual(b.state, 'refused', 'busy is not a refusal of the pairing');
  });

  it('keeps at most --relay-max-pairings (409), expires unused links, and closes open tunnels on revoke', async () => {
    const { relayUrl, k, pairLink } = await setup({ relayMaxPairings: 2 });
    const first = await pairLink();
    assert.equal(first.status, 201);
    assert.equal((await pairLink()).status, 201);
    const third = await pairLink();
    assert.equal(third.status, 409);
    assert.equal(third.body.error, 'too_many_pairings');

    // An unused link past its TTL is refused (made directly in the store, created long ago).
    const store = k.keel.ctx.services.relayHost!.store;
    await fetch(`${k.url}/api/relay/pairings/${first.body.pairing.id}`, { method: 'DELETE', headers: k.authHeaders });
    const old = store.create('old', Date.now() - 2 * k.keel.ctx.options.relayPairingLinkTtlMs);
    const id = store.identity(Date.now());
    const stale = parsePairingFragment(new URL(pairingUrl(relayUrl, { hostId: id.hostId, pairingId: old.id, secret: old.secret })).hash)!;
    const c = await tunnelClient(relayUrl, stale);
    cleanup.push(async () => c.stop());
    await waitUntil(() => c.state === 'refused', 'the expired link to be refused');
    assert.match(c.lastError!.message, /expired/);

    const live = (await fetch(`${k.url}/api/relay/pairings`, { headers: k.authHeaders }).then((r) => r.json())) as { pairings: { id: string }[] };
    assert.equal(live.pairings.length, 1, 'the expired pairing is gone');
    const res = await fetch(`${k.url}/api/relay/pairings`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    const fresh = (await res.json()) as { link: string; pairing: { id: string } };
    const d = await tunnelClient(relayUrl, parsePairingFragment(new URL(fresh.link).hash)!);
    cleanup.push(async () => d.stop());
    await d.ready(10_000);
    assert.equal((await fetch(`${k.url}/api/relay/pairings/${fresh.pairing.id}`, { method: 'DELETE', headers: k.authHeaders })).status, 204);
    await waitUntil(() => d.state === 'refused', 'the open tunnel to close on revoke');
    assert.match(d.lastError!.message, /revoked/);
    assert.equal((await fetch(`${k.url}/api/relay/pairings/${fresh.pairing.id}`, { method: 'DELETE', headers: k.authHeaders })).status, 404);
  });

  it('without --relay: pairing answers 409 relay_not_configured, status says off', async () => {
    const k = await startKeel();
    cleanup.push(() => k.close());
    const res = await fetch(`${k.url}/api/relay/pairings`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 409);
    assert.equal(((await res.json()) as { error: string }).error, 'relay_not_configured');
    assert.equal(((await (await fetch(`${k.url}/api/relay`, { headers: k.authHeaders })).json()) as { state: string }).state, 'off');
  });
});

/**
 * Leak scenario: connections refused over a limit, one per cycle, each on a fresh connection.
 * params.mode:
 *   - 'live': Keel with maxLiveViewers 1 and one /debug/live WebSocket held open; each cycle is a
 *     WebSocket upgrade to /debug/live refused with 503 too_many_connections.
 *   - 'http': Keel with maxHttpConnections 8 and 8 authenticated /debug/live WebSockets held open
 *     (connections without credentials would be closed to make room: see src/http/connections.ts);
 *     each cycle is a GET on a ninth connection, answered 503 too_many_connections and closed.
 *   - 'guard': each cycle is a /debug/live upgrade refused by the security guards, alternately
 *     403 origin_not_allowed (foreign Origin) and 401 unauthorized (no credentials).
 */
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import { closeWs, connectionsInUse, openWs, request, startKeel, upgradeHeaders, waitFor, type TestKeel } from '../helpers.ts';

type Mode = 'live' | 'http' | 'guard';
const HTTP_CAP = 8;

let k: TestKeel;
let mode: Mode = 'live';
let ws: WebSocket | undefined;
const held: WebSocket[] = [];

export async function setup(params: { mode?: Mode } | null): Promise<void> {
  mode = params?.mode ?? 'live';
  if (mode === 'live') {
    k = await startKeel({ maxLiveViewers: 1 });
    ws = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
    await waitFor(() => connectionsInUse(k, 'live_viewers') === 1, 'the held /debug/live viewer');
  } else if (mode === 'guard') {
    k = await startKeel();
  } else {
    k = await startKeel({ maxHttpConnections: HTTP_CAP, maxLiveViewers: HTTP_CAP });
    for (let i = 0; i < HTTP_CAP; i++) held.push(await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders }));
    await waitFor(() => connectionsInUse(k, 'http_connections') === HTTP_CAP, 'the held HTTP connections');
  }
}

export async function cycle(i: number): Promise<void> {
  if (mode === 'guard') {
    const foreign = i % 2 === 0;
    const headers = foreign ? { ...k.authHeaders, ...upgradeHeaders({ origin: 'http://evil.example' }) } : upgradeHeaders();
    const res = await request(`${k.url}/debug/live`, { headers });
    const want = foreign ? [403, 'origin_not_allowed'] : [401, 'unauthorized'];
    if (res.status !== want[0] || res.json().error !== want[1]) assert.fail(`cycle ${i} (guard): expected ${want.join(' ')}, got ${res.status}: ${res.text.slice(0, 200)}`);
    return;
  }
  const res =
    mode === 'live'
      ? await request(`${k.url}/debug/live`, { headers: { ...k.authHeaders, ...upgradeHeaders() } })
      : await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
  if (res.status !== 503 || res.json().error !== 'too_many_connections') {
    assert.fail(`cycle ${i} (${mode}): expected 503 too_many_connections, got ${res.status}: ${res.text.slice(0, 200)}`);
  }
}

export async function settle(): Promise<void> {
  const expected = mode === 'live' ? 1 : mode === 'guard' ? 0 : HTTP_CAP;
  await waitFor(() => connectionsInUse(k, 'http_connections') === expected, `open HTTP connections back to the ${expected} held one(s)`);
}

export function measure(): Record<string, number> {
  return {
    http_connections: connectionsInUse(k, 'http_connections'),
    live_viewers: connectionsInUse(k, 'live_viewers'),
    owner_items: k.keel.ctx.owner.size,
  };
}

export async function teardown(): Promise<void> {
  if (ws) await closeWs(ws);
  for (const s of held.splice(0)) await closeWs(s);
  await k?.close();
}

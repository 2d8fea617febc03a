/**
 * Leak scenario: WebSocket upgrades refused in every way Keel, Fastify, the router, Node's parser
 * or `ws` can refuse one, from raw sockets. Cycle i sends kind i % KINDS.length; every other round
 * the client closes at once after reading the answer, otherwise it never closes and waits for the
 * server to close (which must happen: nobody else will).
 *
 * Setup holds one authenticated /debug/live viewer (so maxLiveViewers 1 is full, for the 503 kind);
 * settle checks that the server is back to that one connection, that nothing is pending, and that
 * an authenticated request is served.
 */
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import { closeWs, connectionsInUse, openWs, request, startKeel, waitFor, type TestKeel } from '../helpers.ts';
import { rawRequest } from '../raw-http.ts';
import { KINDS, LONG_ID } from '../refused-kinds.ts';

let k: TestKeel;
let held: WebSocket | undefined;

export async function setup(): Promise<void> {
  k = await startKeel({ maxLiveViewers: 1 });
  held = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
  await waitFor(() => connectionsInUse(k, 'live_viewers') === 1, 'the held /debug/live viewer');
}

export async function cycle(i: number): Promise<void> {
  const kind = KINDS[i % KINDS.length]!;
  const after = Math.floor(i / KINDS.length) % 2 === 0 ? 'close' : 'wait';
  const res = await rawRequest(k.keel.port, { method: kind.method, path: kind.path, headers: kind.headers(k), after });
  let body: { error?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(res.body);
  } catch {
    // Reported below with the body.
  }
  if (res.status !== kind.status || body.error !== kind.error || typeof body.message !== 'string') {
    assert.fail(`cycle ${i} (${kind.name}, client ${after}): expected ${kind.status} ${kind.error}, got ${res.status}: ${res.body.slice(0, 300)}`);
  }
  // Router-level errors must not echo the request (a reflected page on Keel's origin).
  if (res.body.includes('%E0') || res.body.includes(LONG_ID.slice(0, 50)) || res.body.includes('evil')) {
    assert.fail(`cycle ${i} (${kind.name}): the answer echoes the request: ${res.body.slice(0, 300)}`);
  }
}

export async function settle(): Promise<void> {
  await waitFor(() => connectionsInUse(k, 'http_connections') === 1, 'open HTTP connections back to the held viewer');
  const ok = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
  assert.equal(ok.status, 200, `an authenticated request after the refused upgrades: ${ok.text.slice(0, 200)}`);
  await waitFor(() => connectionsInUse(k, 'http_connections') === 1, 'the check request’s connection to close');
}

export function measure(): Record<string, number> {
  return {
    http_connections: connectionsInUse(k, 'http_connections'),
    live_viewers: connectionsInUse(k, 'live_viewers'),
    owner_items: k.keel.ctx.owner.size,
  };
}

export async function teardown(): Promise<void> {
  if (held) await closeWs(held);
  await k?.close();
}

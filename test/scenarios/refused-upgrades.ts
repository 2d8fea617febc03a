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
import { rawRequest, wsHandshakeHeaders } from '../raw-http.ts';

interface Kind {
  name: string;
  method?: string;
  path: string;
  headers: (k: TestKeel) => Record<string, string>;
  status: number;
  error: string;
}

const EVIL = { Origin: 'http://evil.example' };
const LONG_ID = 'a'.repeat(300);

export const KINDS: Kind[] = [
  // The attack from a web page: new WebSocket('ws://127.0.0.1:7717/api/docs/%E0%A4%A/ws').
  { name: 'bad %-escape, cross-site page', path: '/api/docs/%E0%A4%A/ws', headers: () => wsHandshakeHeaders(EVIL), status: 403, error: 'origin_not_allowed' },
  { name: 'bad %-escape', path: '/api/docs/%E0%A4%A/ws', headers: () => wsHandshakeHeaders(), status: 400, error: 'invalid_url' },
  { name: 'over-long id', path: `/api/docs/${LONG_ID}/ws`, headers: () => wsHandshakeHeaders(), status: 414, error: 'url_too_long' },
  { name: 'over-long id, cross-site page', path: `/api/terminals/${LONG_ID}/ws`, headers: () => wsHandshakeHeaders(EVIL), status: 403, error: 'origin_not_allowed' },
  { name: 'unknown Host', path: '/api/docs/%E0%A4%A/ws', headers: () => wsHandshakeHeaders({ Host: 'rebind.evil.example' }), status: 403, error: 'host_not_allowed' },
  { name: 'no credentials', path: '/debug/live', headers: () => wsHandshakeHeaders(), status: 401, error: 'unauthorized' },
  { name: 'foreign Origin with credentials', path: '/debug/live', headers: (k) => wsHandshakeHeaders({ ...EVIL, Authorization: k.authHeaders.authorization! }), status: 403, error: 'origin_not_allowed' },
  { name: 'no such route', path: '/api/nothing/here/ws', headers: (k) => wsHandshakeHeaders({ Authorization: k.authHeaders.authorization! }), status: 404, error: 'not_found' },
  { name: 'no such terminal', path: '/api/terminals/nosuchterminal/ws', headers: (k) => wsHandshakeHeaders({ Authorization: k.authHeaders.authorization! }), status: 404, error: 'terminal_not_found' },
  { name: 'forged share link', path: '/api/terminals/nosuchterminal/ws?share=forged', headers: () => wsHandshakeHeaders(), status: 401, error: 'unauthorized' },
  { name: 'live viewers full', path: '/debug/live', headers: (k) => wsHandshakeHeaders({ Authorization: k.authHeaders.authorization! }), status: 503, error: 'too_many_connections' },
  { name: 'POST upgrade', method: 'POST', path: '/debug/live', headers: (k) => wsHandshakeHeaders({ Authorization: k.authHeaders.authorization! }), status: 405, error: 'method_not_allowed' },
  { name: 'bad Sec-WebSocket-Key', path: '/debug/live', headers: (k) => wsHandshakeHeaders({ Authorization: k.authHeaders.authorization!, 'Sec-WebSocket-Key': 'short' }), status: 400, error: 'bad_websocket_handshake' },
  { name: 'Upgrade: h2c', path: '/debug/live', headers: (k) => wsHandshakeHeaders({ Authorization: k.authHeaders.authorization!, Upgrade: 'h2c' }), status: 400, error: 'bad_websocket_handshake' },
  { name: 'headers too large', path: '/debug/live', headers: () => wsHandshakeHeaders({ 'X-Pad': 'x'.repeat(20_000) }), status: 431, error: 'headers_too_large' },
  { name: 'malformed request', path: '/debug/live', headers: () => wsHandshakeHeaders({ 'Content-Length': 'abc' }), status: 400, error: 'bad_request' },
];

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

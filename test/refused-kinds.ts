/**
 * Every way Keel, Fastify, the router, Node's parser or `ws` can refuse a WebSocket upgrade, with the
 * answer each must get: shared by the refused-upgrades leak scenario and bench/hostile.bench.ts.
 * "live viewers full" expects `--max-live-viewers 1` with one /debug/live viewer held open.
 */
import { wsHandshakeHeaders } from './raw-http.ts';

export interface Kind {
  name: string;
  method?: string;
  path: string;
  /** `k.authHeaders.authorization` is the owner's `Bearer <token>`. */
  headers: (k: { authHeaders: Record<string, string> }) => Record<string, string>;
  status: number;
  error: string;
}

export const EVIL = { Origin: 'http://evil.example' };
export const LONG_ID = 'a'.repeat(300);

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

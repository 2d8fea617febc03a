/**
 * The front door for WebSocket upgrades: every upgrade either becomes a WebSocket or has its socket
 * closed, whoever answers it.
 *
 * Node hands an upgrade's socket to the 'upgrade' listener and forgets it: no keep-alive, no
 * timeouts, no close after an answer. @fastify/websocket then runs the request through Fastify's
 * router with a ServerResponse bound to that socket, and only closes it from its own onResponse
 * hook. Anything that answers before or outside that hook — the router's 400 for a bad %-escape
 * and 414 for an over-long id, Fastify's 503 while closing, a hook refusing before the plugin's —
 * used to leave the socket half-open for ever after the client closed, holding an fd and a
 * maxHttpConnections slot: about 256 `new WebSocket('ws://127.0.0.1:7717/api/docs/%E0%A4%A/ws')`
 * from any web page and Keel answered 503 to everything until restarted.
 *
 * So this guard sits in front of the plugin's listener:
 *  1. Host, Origin and the handshake headers are checked before anything else runs (the router
 *     answers before any hook), refusals written here with Keel's JSON shape and the socket closed;
 *  2. every response created for a routed upgrade (seen on Node's `http.server.response.created`
 *     diagnostics channel, matched by its request) closes the socket when it finishes;
 *  3. an upgrade not turned into a WebSocket within `deadlineMs` is destroyed (a client that never
 *     reads its answer, or an answer nobody writes);
 *  4. at shutdown, pending upgrades are destroyed so they cannot hold up the server's close.
 */
import dc from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocketServer } from 'ws';
import type { ConnectionGate } from './connections.ts';
import { closeAfterFlush, refuseSocket } from './errors.ts';
import type { Refusal } from './guards.ts';
import { setSecurityHeaders } from './headers.ts';

type UpgradeListener = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

export interface UpgradeGuardOptions {
  gate: ConnectionGate;
  /** Host/Origin checks (guards.ts). */
  check(req: IncomingMessage): Refusal | undefined;
  /** What an upgrade refused for a full server answers. */
  tooMany(): Refusal;
  /** An upgrade still not a WebSocket after this long is destroyed. */
  deadlineMs: number;
}

const responseCreated = dc.channel('http.server.response.created');

// RFC 6455 §4.2.1: the key is 16 random bytes in base64; `ws` refuses anything else with a 400 of
// its own shape, so the same check runs here first to answer in Keel's.
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Refusal for a request that is not a well-formed WebSocket handshake, or undefined. */
export function checkHandshake(req: IncomingMessage): Refusal | undefined {
  if (req.method !== 'GET') {
    return { status: 405, error: 'method_not_allowed', message: 'A WebSocket handshake is a GET request.', headers: { Allow: 'GET' } };
  }
  const version = req.headers['sec-websocket-version'];
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || !WS_KEY.test(String(req.headers['sec-websocket-key'] ?? '')) || (version !== '13' && version !== '8')) {
    return { status: 400, error: 'bad_websocket_handshake', message: 'Only WebSocket upgrades (version 13, with a valid Sec-WebSocket-Key) are accepted.', headers: { 'Sec-WebSocket-Version': '13' } };
  }
  return undefined;
}

export class UpgradeGuard {
  readonly #o: UpgradeGuardOptions;
  /** Upgrades handed to the router and not yet a WebSocket, by request. Bounded by the connection cap. */
  readonly #pending = new Map<IncomingMessage, { socket: Socket; deadline: NodeJS.Timeout }>();
  #disposed = false;

  constructor(o: UpgradeGuardOptions) {
    this.#o = o;
    responseCreated.subscribe(this.#onResponse);
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Replaces the server's 'upgrade' listeners (the plugin's) with this guard in front of them. */
  install(server: Server, wss: WebSocketServer): void {
    const routed = server.listeners('upgrade') as UpgradeListener[];
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#onUpgrade(req, socket, head, routed, server));
    wss.on('connection', (_ws, req: IncomingMessage) => this.#adopted(req));
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, routed: UpgradeListener[], server: Server): void {
    const deadline = setTimeout(() => socket.destroy(), this.#o.deadlineMs);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      this.#pending.delete(req);
    });
    // Node stops listening for errors on an upgraded socket; a reset must not become an uncaught error.
    socket.on('error', () => socket.destroy());
    const { gate } = this.#o;
    const refusal = gate.isRefused(socket) ? this.#o.tooMany() : (this.#o.check(req) ?? checkHandshake(req));
    if (refusal || this.#disposed) {
      refuseSocket(socket, refusal ?? { status: 503, error: 'shutting_down', message: 'Keel is shutting down; try again once it is back.' });
      return;
    }
    gate.requestStarted(socket);
    this.#pending.set(req, { socket, deadline });
    for (const l of routed) l.call(server, req, socket, head);
  }

  #adopted(req: IncomingMessage): void {
    const p = this.#pending.get(req);
    if (!p) return;
    this.#pending.delete(req);
    clearTimeout(p.deadline);
    const { socket } = p;
    this.#o.gate.requestEnded(socket);
    // The route accepted the handshake after checking credentials (cookie, token or share link).
    this.#o.gate.authenticate(socket);
  }

  readonly #onResponse = (msg: unknown): void => {
    const { request, response } = msg as { request: IncomingMessage; response: ServerResponse };
    const p = this.#pending.get(request);
    if (!p) return;
    setSecurityHeaders(response);
    // The answer is not a handshake (`ws` writes that on the socket directly): close after it.
    response.once('finish', () => {
      this.#pending.delete(request);
      closeAfterFlush(p.socket);
    });
  };

  /** Shutdown: nothing pending may hold up the server's close. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    responseCreated.unsubscribe(this.#onResponse);
    for (const p of this.#pending.values()) p.socket.destroy();
    this.#pending.clear();
  }
}

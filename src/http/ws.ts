/** Shared WebSocket helpers: connection caps on upgrade, close with a typed code, liveness. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket, WebSocketServer } from 'ws';
import { CloseCode, KeelError } from '../core/errors.ts';
import { DisposableStore, toDisposable, type Disposable } from '../core/lifecycle.ts';
import type { Slot, SlotLimiter } from '../core/slot-limiter.ts';
import { sendError } from './errors.ts';

/** Longest close reason (RFC 6455 caps the close frame's payload at 125 bytes). */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * An onRequest hook that refuses an upgrade with HTTP 503 JSON when the limiter is already full or
 * the server is shedding load: the cheap, clear refusal. The handler still acquires the slot for
 * real (`acquireOrClose`), so a race between two upgrades ends in a 1013 close, never over the cap.
 */
export function refuseWhenFull(limiter: SlotLimiter) {
  return async (_req: FastifyRequest, reply: FastifyReply) => {
    try {
      limiter.acquire().dispose();
    } catch (err) {
      if (err instanceof KeelError) return sendError(reply, err.status, err.code, err.message, err.details);
      throw err;
    }
  };
}

/** Closes a socket with a code and a reason trimmed to fit a close frame. */
export function closeWith(socket: WebSocket, code: number, reason: string): void {
  let r = reason;
  while (Buffer.byteLength(r) > MAX_CLOSE_REASON_BYTES) r = r.slice(0, -1);
  if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, r);
}

/** Takes a slot for an upgraded socket, or closes it with the error's close code (1013 when full). */
export function acquireOrClose(socket: WebSocket, limiter: SlotLimiter): Slot | undefined {
  try {
    return limiter.acquire();
  } catch (err) {
    if (err instanceof KeelError) closeWith(socket, err.closeCode, err.message);
    else closeWith(socket, 1011, 'internal error');
    return undefined;
  }
}

/**
 * Ping every `intervalMs`; a socket that has not answered the previous ping is terminated
 * (a phone that lost its network never sends a close frame).
 */
export function keepAlive(socket: WebSocket, intervalMs: number): Disposable {
  let alive = true;
  const onPong = () => {
    alive = true;
  };
  socket.on('pong', onPong);
  const t = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, intervalMs);
  t.unref();
  return toDisposable(() => {
    clearInterval(t);
    socket.off('pong', onPong);
  });
}

/** A store disposed when the socket closes, for everything a connection owns. */
export function socketScope(socket: WebSocket): DisposableStore {
  const scope = new DisposableStore();
  socket.once('close', () => scope.dispose());
  return scope;
}

/** How long clients get to answer the close frame at shutdown before their sockets are cut. */
export const SHUTDOWN_CLOSE_GRACE_MS = 1_000;

/**
 * Shutdown step for every WebSocket the server holds: sends 1001 to those still open (subsystems'
 * shutdown hooks have already sent their own reasons), waits up to `graceMs` for the close
 * handshakes, then terminates what is left. Without it, a client that never answers the close frame
 * (a phone that lost its network) kept its socket for ws's 30 s close timeout, so the HTTP server
 * could not close and every such shutdown ran into the deadline and exited 1.
 */
export async function closeAllWebSockets(wss: WebSocketServer | undefined, graceMs = SHUTDOWN_CLOSE_GRACE_MS): Promise<void> {
  if (!wss || wss.clients.size === 0) return;
  const clients = [...wss.clients];
  for (const c of clients) closeWith(c, CloseCode.goingAway, 'Keel is shutting down');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(clients.map((c) => (c.readyState === c.CLOSED ? undefined : new Promise((resolve) => c.once('close', resolve))))),
    new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
  ]);
  clearTimeout(timer);
  for (const c of clients) if (c.readyState !== c.CLOSED) c.terminate();
}

/** Shared WebSocket helpers: connection caps on upgrade, close with a typed code, liveness. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { KeelError } from '../core/errors.ts';
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

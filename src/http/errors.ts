/**
 * One error shape for every HTTP answer: a status and `{"error": "<code>", "message": "..."}`,
 * whoever answers — a route, a hook, Fastify's router (bad %-escape, over-long path segment), Node's
 * parser (headers too large, malformed request, timeout) or Keel's guards before routing.
 * Messages never repeat the path, headers or body sent: an error is not a page an attacker may fill.
 */
import http, { type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KeelError } from '../core/errors.ts';
import type { Refusal } from './guards.ts';
import { SECURITY_HEADERS, setSecurityHeaders } from './headers.ts';

export function sendError(reply: FastifyReply, status: number, code: string, message: string, extra?: Record<string, unknown>): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: code, message, ...extra });
}

function body(r: Refusal): string {
  return JSON.stringify({ error: r.error, message: r.message });
}

/** Answers a plain request that never reaches Fastify, and closes its connection afterwards. */
export function writeRefusal(res: ServerResponse, r: Refusal): void {
  const b = body(r);
  setSecurityHeaders(res);
  res.writeHead(r.status, { ...r.headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(b), Connection: 'close' });
  res.end(b);
}

/** A whole HTTP/1.1 answer as bytes, for sockets that have left Node's HTTP machinery. */
export function rawRefusal(r: Refusal): string {
  const b = body(r);
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    ...r.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(b),
    Connection: 'close',
  };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${r.status} ${http.STATUS_CODES[r.status] ?? 'Error'}\r\n${lines.join('')}\r\n${b}`;
}

/**
 * Writes `r` on a socket outside Node's HTTP machinery (an upgrade, a parse error) and closes it
 * once the answer is flushed. `destroySoon` does not wait for the client: a client that never
 * closes cannot keep the socket (callers still bound a client that never reads).
 */
export function refuseSocket(socket: Duplex, r: Refusal): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.write(rawRefusal(r));
  closeAfterFlush(socket);
}

/** Ends a socket and destroys it once what was written is flushed, without waiting for the peer. */
export function closeAfterFlush(socket: Duplex & { destroySoon?: () => void }): void {
  if (socket.destroyed) return;
  if (socket.destroySoon) socket.destroySoon();
  else socket.end(() => socket.destroy());
}

const MAX_HEADER_KIB = Math.round(http.maxHeaderSize / 1024);

/** The refusal for an error Node's HTTP parser reports on a connection ('clientError'). */
export function clientErrorRefusal(err: NodeJS.ErrnoException): Refusal {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, error: 'request_timeout', message: 'The request did not arrive in time (options --http-headers-timeout-ms and --http-request-timeout-ms). Send it again.' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, error: 'headers_too_large', message: `The request headers are larger than ${MAX_HEADER_KIB} KiB. Clear this site's cookies or send fewer headers.` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, error: 'body_too_large', message: 'The chunked body carries too many chunk extensions.' };
    default:
      return { status: 400, error: 'bad_request', message: 'The request is not valid HTTP/1.1.' };
  }
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the bytes on a connection (431, 400, 408).
 * Answers in Keel's shape and closes the connection (nothing more can be parsed on it).
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  refuseSocket(socket, clientErrorRefusal(err));
}

/**
 * Fastify's `frameworkErrors`: what the router answers before any hook runs. Without it Fastify
 * answers in its own shape and quotes the path back.
 */
export function frameworkErrors(maxParamLength: number) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    switch (err.code) {
      case 'FST_ERR_BAD_URL':
        return sendError(reply, 400, 'invalid_url', 'The request path is not valid: it has a malformed %-escape. Encode ids with encodeURIComponent.');
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return sendError(reply, 414, 'url_too_long', `A segment of the request path is longer than ${maxParamLength} characters; no id is that long.`);
      default:
        return errorHandler(err, req, reply);
    }
  };
}

/** Maps Fastify's own errors to stable codes and user-facing messages. */
export function errorHandler(err: FastifyError | KeelError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof KeelError) return reply.code(err.status).send(err.toJSON());
  const fe = err as FastifyError;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendError(reply, 413, 'body_too_large', `The request body is larger than the limit of ${req.routeOptions.bodyLimit ?? '?'} bytes (option --max-body-bytes).`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendError(reply, 415, 'unsupported_media_type', 'Send the body as application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return sendError(reply, 400, 'invalid_json', 'The body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return sendError(reply, 400, 'bad_request', 'The Content-Length header does not match the body.');
  }
  if (fe.validation) return sendError(reply, 400, 'invalid_request', fe.message);
  if (fe instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (fe.statusCode === 400 && /JSON/i.test(fe.message))) {
    // The parser's message quotes the body: not repeated.
    return sendError(reply, 400, 'invalid_json', 'The body is not valid JSON; send a JSON object.');
  }
  const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
  if (status >= 500) {
    req.log.error({ err }, 'request failed');
    return sendError(reply, status, 'internal_error', 'Keel hit an unexpected error; it is logged. The server keeps running.');
  }
  // Fastify's messages may quote the request; the log keeps them, the answer names only the kind.
  req.log.debug({ err }, 'request refused');
  return sendError(reply, status, 'bad_request', `The request was refused (${fe.code ?? `HTTP ${status}`}).`);
}

/** 404 for every path no route matches, for every method; the path is not repeated. */
export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 404, 'not_found', `No ${req.method} route at this path. The HTTP API is listed in the README.`);
}

/** One error shape for every HTTP answer: a status and `{"error": "<code>", "message": "..."}`. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KeelError } from '../core/errors.ts';

export function sendError(reply: FastifyReply, status: number, code: string, message: string, extra?: Record<string, unknown>): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: code, message, ...extra });
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
    return sendError(reply, 400, 'invalid_json', `The body is not valid JSON: ${fe.message}`);
  }
  const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
  if (status >= 500) {
    req.log.error({ err }, 'request failed');
    return sendError(reply, status, 'internal_error', 'Keel hit an unexpected error; it is logged. The server keeps running.');
  }
  return sendError(reply, status, 'bad_request', fe.message);
}

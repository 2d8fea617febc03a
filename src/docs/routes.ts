/**
 * Shared documents, the subsystem: REST for documents and locks, the editor WebSocket, and
 * registration with observability, the health monitor's trim and shutdown. The protocol and the
 * API are docs/documents.md.
 *
 * Why the Yjs protocols directly (yjs + y-protocols + lib0) and not Hocuspocus: Keel's memory
 * contract needs a failed store to keep the document and its edits in memory (Hocuspocus unloads it
 * in the store hook's catch, hocuspocus#954/#955), refusals (locked, rate-limited) answered with a
 * reason on a socket that stays open (a Hocuspocus beforeHandleMessage rejection closes it), and
 * every per-client structure owned by its connection (y-protocols' server-side Awareness keeps a
 * meta entry per client id ever seen and an interval per document). The protocol is small enough to
 * own; browsers still use the stock y-websocket provider against it.
 */
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { KeelContext } from '../context.ts';
import { CloseCode, KeelError } from '../core/errors.ts';
import { sendError } from '../http/errors.ts';
import { acquireOrClose, closeWith } from '../http/ws.ts';
import { DOC_MEMORY_FACTOR, docsBudgetBytes, RECOVERY_FACTOR } from './budget.ts';
import type { DocumentManager } from './manager.ts';
import { DocumentStore } from './store.ts';

declare module '../context.ts' {
  interface KeelServices {
    /** Shared documents (the agent may read and write notes through it). */
    docs: DocumentManager;
  }
}

export const MAX_TITLE_CHARS = 200;

const idParams = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a document id') });
const titleBody = z.object({ title: z.string().trim().min(1).max(MAX_TITLE_CHARS) }).strict();
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() });
const exportQuery = z.object({ format: z.string().max(16).optional() });
const lockBody = z.object({ connection: z.string().min(1).max(64), ttlMs: z.int().min(1).max(86_400_000).optional() }).strict();
const unlockQuery = z.object({ connection: z.string().min(1).max(64).optional(), force: z.enum(['1', 'true']).optional() });

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'body';
  throw new KeelError(400, 'invalid_request', `${where}: ${issue?.message ?? 'invalid'}`);
}

/** `Content-Disposition` filename: the title reduced to safe ASCII. */
export function exportFilename(title: string): string {
  const base = title.replace(/[^A-Za-z0-9 ._-]+/g, '_').replace(/^[ .]+|[ .]+$/g, '').slice(0, 100);
  return (base || 'document') + '.md';
}

/**
 * The manager's module, loaded on first use: it imports Yjs (and y-protocols, lib0), ~2 MB of RSS
 * that a Keel whose documents nobody uses should not pay. Loaded with require() (synchronous, Node
 * >= 22.12 loads ES modules so) because `ctx.services.docs` is read synchronously; from dist/ it
 * is the bundle's `docs-manager.js` entry (scripts/build-server.js).
 */
const MANAGER_MODULE = import.meta.url.endsWith('.ts') ? './manager.ts' : './docs-manager.js';
const requireHere = createRequire(import.meta.url);

export async function registerDocuments(app: FastifyInstance, ctx: KeelContext): Promise<void> {
  // The table is made (migrated) at start, as every store's is, not on first use: by then another
  // process may hold the database's lock, and the first list of documents would fail instead of
  // being served. The store needs no Yjs.
  const store = new DocumentStore(ctx.db);
  let loaded: DocumentManager | undefined;
  const docsModule = () => requireHere(MANAGER_MODULE) as typeof import('./manager.ts');
  const manager = (): DocumentManager => {
    if (loaded) return loaded;
    const { DocumentManager } = docsModule();
    const mgr = (loaded = ctx.owner.add(new DocumentManager(ctx, store)));
    ctx.owner.add(ctx.health.registerTrim('docs', () => mgr.trim()));
    return mgr;
  };
  Object.defineProperty(ctx.services, 'docs', { get: manager, enumerable: true, configurable: true });

  ctx.observe.addSubsystem('docs', () => loaded?.stats() ?? { documents_loaded: 0, max_loaded_documents: ctx.options.maxLoadedDocs, connections: 0, yjs_loaded: 0 });
  ctx.observe.addBudget(
    'docs',
    docsBudgetBytes(ctx.options),
    `max loaded docs × max doc bytes × (${DOC_MEMORY_FACTOR}, the Y.Doc in the document worker vs encoded, + ${RECOVERY_FACTOR}, what the main thread keeps to restore it) + max doc connections × (send buffer + pre-join buffer + max frame) + pending update bytes`,
  );
  ctx.onShutdown(() => loaded?.shutdown());

  app.post('/api/docs', async (req, reply) => {
    const { title } = parse(titleBody, req.body);
    return reply.code(201).send(manager().create(title));
  });

  app.get('/api/docs', async (req) => {
    const { limit } = parse(listQuery, req.query);
    return { documents: manager().list(limit ?? 500) };
  });

  app.get('/api/docs/:id', async (req) => {
    const { id } = parse(idParams, req.params);
    return manager().get(id);
  });

  app.patch('/api/docs/:id', async (req) => {
    const { id } = parse(idParams, req.params);
    const { title } = parse(titleBody, req.body);
    return manager().rename(id, title);
  });

  app.delete('/api/docs/:id', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    manager().delete(id);
    return reply.code(204).send();
  });

  app.get('/api/docs/:id/export', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    const { format } = parse(exportQuery, req.query);
    if (format !== undefined && format !== 'md') throw new KeelError(400, 'unsupported_format', `Export format "${format}" is not supported; use ?format=md.`);
    const { title, text } = await manager().exportMarkdown(id);
    return reply
      .type('text/markdown; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${exportFilename(title)}"`)
      .send(text);
  });

  app.post('/api/docs/:id/lock', async (req) => {
    const { id } = parse(idParams, req.params);
    const body = parse(lockBody, req.body);
    return { lock: manager().lock(id, body.connection, body.ttlMs) };
  });

  app.delete('/api/docs/:id/lock', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    const q = parse(unlockQuery, req.query);
    if (!q.force && !q.connection) throw new KeelError(400, 'invalid_request', 'connection: name the connection that holds the lock (?connection=<id>), or break it with ?force=1.');
    manager().unlock(id, { connection: q.connection, force: !!q.force });
    return reply.code(204).send();
  });

  /** Refusals before the upgrade are plain HTTP with the JSON body. */
  const admit = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const { id } = parse(idParams, req.params);
      manager().assertCanConnect(id);
    } catch (err) {
      if (err instanceof KeelError) return sendError(reply, err.status, err.code, err.message, err.details);
      throw err;
    }
  };

  app.get('/api/docs/:id/ws', { websocket: true, onRequest: admit }, (socket: WebSocket, req) => {
    const r = idParams.safeParse(req.params);
    if (!r.success) return closeWith(socket, CloseCode.policyViolation, 'bad document id');
    const slot = acquireOrClose(socket, manager().connectionLimiter);
    if (!slot) return;
    manager().connect(socket, r.data.id, docsModule().cleanName((req.query as { name?: unknown }).name), slot);
  });

}

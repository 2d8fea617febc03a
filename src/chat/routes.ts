/**
 * The chat subsystem: sessions (create, list, rename, delete), their messages read back from the
 * event log, prompts handed to the agent, cancel, and export as Markdown or JSON.
 * Reference: docs/stream.md.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { KeelContext } from '../context.ts';
import { KeelError } from '../core/errors.ts';
import { toDisposable } from '../core/lifecycle.ts';
import { agentOf, type EventLogService } from '../stream/routes.ts';
import { foldMessages, markdownHeader, markdownMessages, type ExportedSession } from './messages.ts';
import { ChatStore, MAX_TITLE_CHARS, decodeCursor, encodeCursor, type ChatSession } from './store.ts';

declare module '../context.ts' {
  interface KeelServices {
    /** Chat sessions (the agent may read titles; the UI goes through the routes). */
    chat: ChatStore;
  }
}

const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 200;
const DEFAULT_MESSAGES_LIMIT = 50;
const MAX_MESSAGES_LIMIT = 200;
/** Messages per chunk of an export. */
const EXPORT_PAGE_MESSAGES = 50;

const title = z.string().trim().min(1, 'title must not be empty').max(MAX_TITLE_CHARS, `title must be at most ${MAX_TITLE_CHARS} characters`);
const idParams = z.object({ id: z.string().min(1).max(64) });
const createBody = z.object({ title: title.optional() }).strict();
const patchBody = z.object({ title }).strict();
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).optional(), before: z.string().max(100).optional() });
const messagesQuery = z.object({ limit: z.coerce.number().int().min(1).max(MAX_MESSAGES_LIMIT).optional(), before: z.coerce.number().int().min(1).optional() });
const postBody = z.object({ content: z.string() }).strict();
const exportQuery = z.object({ format: z.enum(['md', 'json']).default('md') });

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'body';
  throw new KeelError(400, 'invalid_request', `${where}: ${issue?.message ?? 'invalid'}`);
}

const NO_AGENT_HELP = 'No agent is available in this Keel. Start it with --agent-provider, --agent-model (and --agent-base-url for OpenAI-compatible servers).';

function notFound(id: string): KeelError {
  return new KeelError(404, 'chat_session_not_found', `No chat session ${id}. List them with GET /api/chat/sessions.`);
}

export async function registerChat(app: FastifyInstance, ctx: KeelContext): Promise<void> {
  const o = ctx.options;
  const store = ctx.owner.add(
    new ChatStore(ctx.db, {
      cacheMaxEntries: o.chatCacheMaxEntries,
      cacheIdleMs: o.chatCacheIdleMs,
      clock: ctx.clock,
      onEvicted: (n, reason) => ctx.audit.record('chat', 'evict', `${n} chat session(s) left the cache (${reason === 'expired' ? 'idle' : reason}); they stay in SQLite`),
    }),
  );
  ctx.services.chat = store;
  const events = (): EventLogService => {
    const log = ctx.services.eventLog;
    if (!log) throw new KeelError(503, 'stream_unavailable', 'The event log is not available (Keel is starting or shutting down).');
    return log;
  };
  // Appends for a deleted session (a turn finishing while its session is deleted) are refused, not orphaned.
  ctx.services.eventLog?.setSessionCheck((id) => store.exists(id));
  ctx.owner.add(
    toDisposable(() => {
      ctx.services.eventLog?.setSessionCheck(undefined);
      delete ctx.services.chat;
    }),
  );

  ctx.observe.addSubsystem('chat', () => store.stats());
  ctx.observe.addBudget(
    'chat',
    o.chatCacheMaxEntries * 1024 + 4 * MAX_MESSAGES_LIMIT * o.agentMaxToolResultBytes,
    'cache entries × 1 KiB + one messages page (max limit × (2 tool results + args + text), transient; an export holds one page at a time)',
  );
  ctx.owner.add(ctx.health.registerTrim('chat', () => `${store.trimCache()} cached chat session(s) dropped (kept in SQLite)`));

  const agent = () => agentOf(ctx);
  const sessionJson = (s: ChatSession) => ({
    id: s.id,
    title: s.title,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
    busy: agent()?.isBusy(s.id) ?? false,
  });
  const mustGet = (id: string): ChatSession => {
    const s = store.get(id);
    if (!s) throw notFound(id);
    return s;
  };

  app.post('/api/chat/sessions', async (req, reply) => {
    const body = parse(createBody, req.body);
    return reply.code(201).send(sessionJson(store.create(body.title)));
  });

  app.get('/api/chat/sessions', async (req) => {
    const q = parse(listQuery, req.query);
    let before: { updatedAt: number; id: string } | undefined;
    if (q.before !== undefined) {
      const c = decodeCursor(q.before);
      if (!c) throw new KeelError(400, 'invalid_request', 'before: not a cursor; pass the nextBefore value of the previous page.');
      before = c;
    }
    const { sessions, more } = store.list(q.limit ?? DEFAULT_LIST_LIMIT, before);
    return { sessions: sessions.map(sessionJson), nextBefore: more ? encodeCursor(sessions[sessions.length - 1]!) : null };
  });

  app.get('/api/chat/sessions/:id', async (req) => sessionJson(mustGet(parse(idParams, req.params).id)));

  app.patch('/api/chat/sessions/:id', async (req) => {
    const { id } = parse(idParams, req.params);
    const body = parse(patchBody, req.body);
    const s = store.rename(id, body.title);
    if (!s) throw notFound(id);
    return sessionJson(s);
  });

  app.delete('/api/chat/sessions/:id', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    mustGet(id);
    // Stop the turn first, so it does not append to a session that is going away.
    agent()?.cancel(id);
    store.delete(id);
    const n = ctx.services.eventLog?.deleteSession(id) ?? 0;
    ctx.log.debug({ session: id, events: n }, 'chat session deleted');
    return reply.code(204).send();
  });

  app.get('/api/chat/sessions/:id/messages', async (req) => {
    const { id } = parse(idParams, req.params);
    const q = parse(messagesQuery, req.query);
    mustGet(id);
    const limit = q.limit ?? DEFAULT_MESSAGES_LIMIT;
    const page = events().readMessagePage(id, q.before ?? Number.MAX_SAFE_INTEGER, limit);
    // The page holds every event of its messages, including any that came after `before` (interleaved).
    const messages = foldMessages(page.events);
    return { messages, nextBefore: page.more && messages.length ? messages[0]!.id : null };
  });

  // Whether prompts can run at all, so a page says so before the first prompt instead of after it.
  app.get('/api/agent', async () => {
    const a = agent();
    const configured = a?.isConfigured() ?? false;
    return { configured, model: a?.state().model ?? null, help: a?.configHelp() ?? NO_AGENT_HELP };
  });

  app.post('/api/chat/sessions/:id/messages', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    mustGet(id);
    const { content } = parse(postBody, req.body);
    if (!content.trim()) throw new KeelError(400, 'invalid_request', 'content: the message is empty.');
    const bytes = Buffer.byteLength(content);
    if (bytes > o.maxChatMessageBytes) {
      throw new KeelError(413, 'message_too_large', `The message is ${bytes} bytes; the limit is ${o.maxChatMessageBytes} (option --max-chat-message-bytes). Shorten it or attach less text.`);
    }
    const a = agent();
    if (!a || !a.isConfigured()) {
      return reply.code(503).send({
        error: 'agent_not_configured',
        message: a?.configHelp() ?? NO_AGENT_HELP,
      });
    }
    const status = a.startTurn(id, content);
    if (status === 'busy') {
      throw new KeelError(409, 'agent_busy', 'The agent is already working in this session and its queue is full (option --agent-queue-depth). Wait for the turn to finish or cancel it (POST /api/chat/sessions/:id/cancel).');
    }
    store.touch(id, content);
    return reply.code(202).send({ status, sessionId: id });
  });

  app.post('/api/chat/sessions/:id/cancel', async (req) => {
    const { id } = parse(idParams, req.params);
    mustGet(id);
    return { cancelled: agent()?.cancel(id) ?? false };
  });

  app.get('/api/chat/sessions/:id/export', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    const { format } = parse(exportQuery, req.query);
    const s = mustGet(id);
    const log = events();
    const meta = { id: s.id, title: s.title, createdAt: new Date(s.createdAt).toISOString(), updatedAt: new Date(s.updatedAt).toISOString() };
    const file = `keel-chat-${s.id.slice(0, 8)}.${format}`;
    reply.header('content-disposition', `attachment; filename="${file}"`);
    reply.type(format === 'json' ? 'application/json; charset=utf-8' : 'text/markdown; charset=utf-8');
    // Streamed a page of messages at a time, pulled as the client reads: memory holds one page, whatever the session's size.
    return reply.send(Readable.from(exportChunks(log, id, format, meta, new Date(ctx.clock.now())), { highWaterMark: 1 }));
  });
}

/** The export, in chunks of one page of messages. Bounded: the session holds at most --event-log-max-events-per-session events. */
function* exportChunks(log: EventLogService, sessionId: string, format: 'md' | 'json', meta: ExportedSession, exportedAt: Date): Generator<string> {
  yield format === 'json' ? `{"session":${JSON.stringify(meta)},"messages":[` : markdownHeader(meta, exportedAt);
  let after = 0;
  let first = true;
  for (;;) {
    const page = log.readMessagesAfter(sessionId, after, EXPORT_PAGE_MESSAGES);
    const messages = foldMessages(page.events);
    if (messages.length) {
      after = messages[messages.length - 1]!.id;
      if (format === 'md') yield markdownMessages(messages);
      else {
        yield (first ? '' : ',') + messages.map((m) => JSON.stringify(m)).join(',');
        first = false;
      }
    }
    if (!page.more || !messages.length) break;
  }
  if (format === 'json') yield ']}';
}

/**
 * The terminals subsystem: REST for tabs, the viewer WebSocket, and its registration with
 * observability, the health monitor's trim and shutdown. The protocol is docs/protocol.md.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { KeelContext } from '../context.ts';
import { CloseCode, KeelError } from '../core/errors.ts';
import { sendError } from '../http/errors.ts';
import { closeWith, keepAlive } from '../http/ws.ts';
import { TerminalManager, notFound } from './manager.ts';
import type { TerminalSession } from './session.ts';
import { MAX_SHARE_TOKEN_CHARS, type ShareLink, type ShareLinks } from './share-links.ts';
import { Viewer, type Role } from './viewer.ts';

declare module '../context.ts' {
  interface KeelServices {
    /** Terminal sessions, for other subsystems (the agent reads screens and types through it). */
    terminals: TerminalManager;
  }
}

const idParams = z.object({ id: z.string().min(1).max(64) });
const shareParams = z.object({ shareId: z.string().min(1).max(64) });

export function terminalJson(s: TerminalSession) {
  return {
    id: s.id,
    name: s.name,
    cols: s.cols,
    rows: s.rows,
    cwd: s.cwd,
    command: s.command,
    pid: s.pid,
    createdAt: new Date(s.createdAt).toISOString(),
    viewers: s.viewerCount,
    foreground: s.foreground,
  };
}

/** A share link as the REST API returns it (docs/protocol.md). */
export function shareJson(link: ShareLink, shares: ShareLinks) {
  const token = shares.token(link);
  const id = encodeURIComponent(link.terminalId);
  return {
    id: link.id,
    terminalId: link.terminalId,
    createdAt: new Date(link.createdAt).toISOString(),
    expiresAt: new Date(link.expiresAt).toISOString(),
    viewers: shares.viewerCount(link.id),
    share: token,
    url: `/#/t/${id}?share=${token}`,
    wsPath: `/api/terminals/${id}/ws?share=${token}`,
  };
}

function shareNotFound(id: string): KeelError {
  return new KeelError(404, 'share_not_found', `No share link ${id}: it was revoked, expired, or its terminal ended. List them with GET /api/terminals/shares.`);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'body';
  throw new KeelError(400, 'invalid_request', `${where}: ${issue?.message ?? 'invalid'}`);
}

export async function registerTerminals(app: FastifyInstance, ctx: KeelContext): Promise<void> {
  const mgr = ctx.owner.add(new TerminalManager(ctx));
  ctx.services.terminals = mgr;
  const o = ctx.options;
  const r = mgr.sizeRange;

  ctx.observe.addSubsystem('terminals', () => mgr.stats());
  ctx.observe.addBudget('terminals', mgr.budgetBytes(), 'sessions × (mirror at max size incl. scrollback + 2 × mirror backlog + pending input) + viewers × (most unacknowledged output, flow-policy.ts + gathered frame + mirror backlog + max frame)');
  ctx.owner.add(ctx.health.registerTrim('terminals', () => mgr.trimInactive()));
  ctx.onShutdown(() => mgr.shutdown());

  const createBody = z.object({
    cols: z.int().min(r.minCols).max(r.maxCols),
    rows: z.int().min(r.minRows).max(r.maxRows),
    cwd: z.string().min(1).max(4096).optional(),
    command: z.string().min(1).max(4096).nullable().optional(),
    name: z.string().min(1).max(100).optional(),
  }).strict();
  const patchBody = z.object({ name: z.string().min(1).max(100) }).strict();
  const restoreBody = z.object({ ids: z.array(z.string().min(1).max(64)).max(1000).optional() }).strict();
  const shareBody = z.object({ ttlMs: z.int().min(1_000).max(365 * 86_400_000).optional() }).strict();

  app.post('/api/terminals', async (req, reply) => {
    const body = parse(createBody, req.body);
    const s = mgr.create(body);
    return reply.code(201).send(terminalJson(s));
  });

  app.get('/api/terminals', async () => ({ terminals: mgr.list().map((s) => terminalJson(s)) }));

  app.get('/api/terminals/previous', async () => ({ terminals: mgr.tabs.previous() }));

  app.delete('/api/terminals/previous', async (_req, reply) => {
    mgr.tabs.forgetPrevious();
    return reply.code(204).send();
  });

  app.post('/api/terminals/restore', async (req, reply) => {
    const body = parse(restoreBody, req.body);
    const { created, failed } = mgr.restore(body.ids);
    return reply.code(201).send({ terminals: created.map((s) => terminalJson(s)), failed });
  });

  // --- share links -----------------------------------------------------------------------------

  app.get('/api/terminals/shares', async () => ({ shares: mgr.shares.list().map((l) => shareJson(l, mgr.shares)) }));

  app.delete('/api/terminals/shares/:shareId', async (req, reply) => {
    const { shareId } = parse(shareParams, req.params);
    if (!mgr.shares.revoke(shareId)) throw shareNotFound(shareId);
    return reply.code(204).send();
  });

  app.post('/api/terminals/:id/shares', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    const { ttlMs } = parse(shareBody, req.body);
    const s = mgr.get(id);
    if (!s || s.state !== 'running') throw notFound(id);
    return reply.code(201).send(shareJson(mgr.shares.create(id, ttlMs), mgr.shares));
  });

  app.get('/api/terminals/:id/shares', async (req) => {
    const { id } = parse(idParams, req.params);
    if (!mgr.get(id)) throw notFound(id);
    return { shares: mgr.shares.list(id).map((l) => shareJson(l, mgr.shares)) };
  });

  app.get('/api/terminals/:id', async (req) => {
    const { id } = parse(idParams, req.params);
    const s = mgr.get(id);
    if (!s) throw notFound(id);
    return terminalJson(s);
  });

  app.patch('/api/terminals/:id', async (req) => {
    const { id } = parse(idParams, req.params);
    const { name } = parse(patchBody, req.body);
    return terminalJson(mgr.rename(id, name));
  });

  app.delete('/api/terminals/:id', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    await mgr.close(id);
    return reply.code(204).send();
  });

  app.get('/api/terminals/:id/screen', async (req, reply) => {
    const { id } = parse(idParams, req.params);
    const q = parse(z.object({ scrollback: z.coerce.number().int().min(0).max(o.terminalScrollbackLines).optional() }), req.query);
    const s = mgr.get(id);
    if (!s) throw notFound(id);
    const text = await s.screenText(q.scrollback ?? 0);
    return reply.type('text/plain; charset=utf-8').send(text);
  });

  /** Who may attach, decided before the upgrade so refusals are plain HTTP with the JSON body. */
  const admitViewer = async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string };
    const who = whoIs(req, mgr, id);
    if (!who) return sendError(reply, 401, 'unauthorized', 'Missing or invalid credentials: sign in, or use a read-only share link for this terminal that has not expired or been revoked.');
    if (!mgr.get(id)) return sendError(reply, 404, 'terminal_not_found', notFound(id).message);
    try {
      mgr.assertViewerRoom(id, who.role);
    } catch (err) {
      if (err instanceof KeelError) return sendError(reply, err.status, err.code, err.message, err.details);
      throw err;
    }
  };

  app.get('/api/terminals/:id/ws', { websocket: true, config: { customAuth: true }, onRequest: admitViewer }, (socket: WebSocket, req) => {
    const { id } = req.params as { id: string };
    const who = whoIs(req, mgr, id);
    const s = mgr.get(id);
    if (!who) {
      // The link was revoked or expired between the check and the upgrade.
      closeWith(socket, CloseCode.policyViolation, 'share link revoked or expired');
      return;
    }
    if (!s || s.state !== 'running') {
      // Raced with an exit or close between the check and the upgrade.
      closeWith(socket, CloseCode.normal, 'terminal exited');
      return;
    }
    let slots;
    try {
      slots = mgr.acquireViewerSlots(id, who.role);
    } catch (err) {
      if (err instanceof KeelError) closeWith(socket, err.closeCode, err.message);
      else closeWith(socket, CloseCode.internalError, 'internal error');
      return;
    }
    const viewer = new Viewer(socket, s, who.role);
    for (const slot of slots) viewer.own(slot);
    viewer.own(keepAlive(socket, o.terminalPingMs));
    if (who.link) {
      // Revoked or expired: close (1008, the reason says which) and let go of the slots now, not when the client answers.
      viewer.own(mgr.shares.attach(who.link.id, { close: (code, reason) => (viewer.close(code, reason), viewer.dispose()) }));
    }
    s.addViewer(viewer);
  });
}

/** An owner (cookie or token), a read-only viewer holding a live share link for this terminal, or nobody. */
function whoIs(req: FastifyRequest, mgr: TerminalManager, id: string): { role: Role; link?: ShareLink } | null {
  if (req.principal?.role === 'owner') return { role: 'owner' };
  const share = (req.query as { share?: unknown }).share;
  if (typeof share !== 'string' || share.length === 0 || share.length > MAX_SHARE_TOKEN_CHARS) return null;
  const link = mgr.shares.verify(id, share);
  return link ? { role: 'read-only', link } : null;
}

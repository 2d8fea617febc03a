/**
 * Issue 10, point 5 (share links and owner slots), against a real server: REST create / list /
 * revoke, WebSocket viewers through links, expiry and revocation closing those viewers, and
 * read-only viewers never taking the slots owners need.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

function upgradeStatus(srv: TestServer, path: string, owner: boolean): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = owner ? { authorization: 'Bearer ' + srv.token, origin: srv.base } : { origin: srv.base };
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(srv.base.replace('http', 'ws') + path, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) }));
    });
    ws.on('open', () => {
      ws.close();
      reject(new Error(`upgrade to ${path} unexpectedly accepted`));
    });
    ws.on('error', () => {});
  });
}

async function viewer(srv: TestServer, id: string, share?: string): Promise<TestClient> {
  const c = new TestClient(srv, id, share ? { share, render: false } : { render: false });
  await c.opened();
  await waitFor(() => c.snapshots > 0, 'snapshot');
  return c;
}

describe('terminals: share links', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/sh', maxTerminalShareLinks: 4, terminalShareMaxTtlMs: 3_600_000 });
  });
  after(async () => {
    await srv.close();
  });

  async function terminal(): Promise<string> {
    const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 600' });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  }

  it('create, list per terminal and overall, attach read-only, revoke: the viewer is closed and the link refused at once', async () => {
    const id = await terminal();
    const other = await terminal();
    const t0 = Date.now();
    const c = await srv.api('POST', `/api/terminals/${id}/shares`, {});
    assert.equal(c.status, 201, c.text);
    assert.match(c.json.id, /^sl_/);
    assert.equal(c.json.terminalId, id);
    const ttl = Date.parse(c.json.expiresAt) - Date.parse(c.json.createdAt);
    assert.equal(ttl, 3_600_000, 'the default 24 h clamped to --terminal-share-max-ttl-ms');
    assert.ok(Math.abs(Date.parse(c.json.createdAt) - t0) < 5_000);
    assert.equal(c.json.url, `/#/t/${id}?share=${c.json.share}`);
    assert.equal(c.json.wsPath, `/api/terminals/${id}/ws?share=${c.json.share}`);
    const o = await srv.api('POST', `/api/terminals/${other}/shares`, { ttlMs: 60_000 });
    assert.equal(Date.parse(o.json.expiresAt) - Date.parse(o.json.createdAt), 60_000);

    assert.deepEqual((await srv.api('GET', `/api/terminals/${id}/shares`)).json.shares.map((l: any) => l.id), [c.json.id]);
    assert.deepEqual((await srv.api('GET', '/api/terminals/shares')).json.shares.map((l: any) => l.id).sort(), [c.json.id, o.json.id].sort());

    const ro = await viewer(srv, id, c.json.share);
    assert.equal(ro.meta?.role, 'read-only');
    assert.equal((await srv.api('GET', `/api/terminals/${id}/shares`)).json.shares[0].viewers, 1);
    const wrong = await upgradeStatus(srv, `/api/terminals/${other}/ws?share=${c.json.share}`, false);
    assert.equal(wrong.status, 401, "a link opens only its own terminal");

    const d = await srv.api('DELETE', `/api/terminals/shares/${c.json.id}`);
    assert.equal(d.status, 204);
    await ro.closed();
    assert.equal(ro.closeCode, 1008);
    assert.equal(ro.closeReason, 'share link revoked');
    const again = await upgradeStatus(srv, c.json.wsPath, false);
    assert.equal(again.status, 401);
    assert.equal(again.json.error, 'unauthorized');
    assert.equal((await srv.api('GET', `/api/terminals/${id}/shares`)).json.shares.length, 0);
    assert.equal((await srv.api('DELETE', `/api/terminals/shares/${c.json.id}`)).json.error, 'share_not_found');
    // The other link is untouched by the revoke; and a terminal that ends takes its links with it.
    assert.equal((await srv.api('GET', `/api/terminals/${other}/shares`)).json.shares.length, 1);
    await srv.api('DELETE', `/api/terminals/${other}`);
    assert.equal((await srv.api('GET', '/api/terminals/shares')).json.shares.length, 0);
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('an expired link is refused, and its attached viewer is closed when it expires', async () => {
    const id = await terminal();
    const c = await srv.api('POST', `/api/terminals/${id}/shares`, { ttlMs: 1_000 });
    const ro = await viewer(srv, id, c.json.share);
    await ro.closed(10_000);
    assert.equal(ro.closeCode, 1008);
    assert.equal(ro.closeReason, 'share link expired');
    const again = await upgradeStatus(srv, c.json.wsPath, false);
    assert.equal(again.status, 401);
    assert.equal((await srv.api('GET', `/api/terminals/${id}/shares`)).json.shares.length, 0);
    const m = (await srv.api('GET', '/debug/memory')).json.subsystems.terminals;
    assert.ok(m.share_links_expired_total >= 1);
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('the old standing capability and tampered tokens open nothing', async () => {
    const id = await terminal();
    const c = await srv.api('POST', `/api/terminals/${id}/shares`, {});
    const legacy = srv.keel.ctx.auth.sign('share:terminal:' + id);
    assert.equal((await upgradeStatus(srv, `/api/terminals/${id}/ws?share=${legacy}`, false)).status, 401);
    const [lid, exp, sig] = (c.json.share as string).split('.');
    for (const t of [`${lid}.${Number(exp) + 86_400_000}.${sig}`, `${lid}.${exp}.${sig!.slice(0, -2)}xx`, 'x'.repeat(300)]) {
      assert.equal((await upgradeStatus(srv, `/api/terminals/${id}/ws?share=${encodeURIComponent(t)}`, false)).status, 401, t);
    }
    await srv.api('DELETE', `/api/terminals/shares/${c.json.id}`);
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('200 cycles of create, attach, revoke leave no record, no holder entry and no slot behind', async () => {
    const mgr = srv.keel.ctx.services.terminals!;
    const id = await terminal();
    const base = { links: mgr.shares.count, attached: mgr.shares.attachedLinks, viewers: mgr.viewerLimiter.inUse, ro: mgr.readOnlyViewerLimiter.inUse };
    for (let i = 0; i < 200; i++) {
      const l = await srv.api('POST', `/api/terminals/${id}/shares`, {});
      const c = new TestClient(srv, id, { share: l.json.share, render: false });
      await c.opened();
      await srv.api('DELETE', `/api/terminals/shares/${l.json.id}`);
      await c.closed();
      assert.equal(c.closeCode, 1008);
    }
    await waitFor(() => mgr.viewerLimiter.inUse === base.viewers && mgr.readOnlyViewerLimiter.inUse === base.ro, 'slots back at baseline');
    assert.deepEqual({ links: mgr.shares.count, attached: mgr.shares.attachedLinks }, { links: base.links, attached: base.attached });
    assert.equal(mgr.get(id)!.viewerCount, 0);
    assert.equal(mgr.shares.revokedTotal >= 200, true);
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('bad requests: 400 for a bad ttl or body, 404 for an unknown terminal, 409 at --max-terminal-share-links', async () => {
    const id = await terminal();
    for (const body of [{ ttlMs: 10 }, { ttlMs: 'soon' }, { ttlMs: 1.5e3 + 0.5 }, { extra: 1 }]) {
      const r = await srv.api('POST', `/api/terminals/${id}/shares`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error, 'invalid_request');
    }
    assert.equal((await srv.api('POST', '/api/terminals/t_nope/shares', {})).json.error, 'terminal_not_found');
    assert.equal((await srv.api('GET', '/api/terminals/t_nope/shares')).status, 404);
    const made = [];
    for (let i = 0; i < 4; i++) made.push((await srv.api('POST', `/api/terminals/${id}/shares`, {})).json.id);
    const over = await srv.api('POST', `/api/terminals/${id}/shares`, {});
    assert.equal(over.status, 409);
    assert.equal(over.json.error, 'too_many_share_links');
    assert.match(over.json.message, /--max-terminal-share-links/);
    await srv.api('DELETE', `/api/terminals/shares/${made[0]}`);
    assert.equal((await srv.api('POST', `/api/terminals/${id}/shares`, {})).status, 201);
    await srv.api('DELETE', `/api/terminals/${id}`);
    assert.equal((await srv.api('GET', '/api/terminals/shares')).json.shares.length, 0);
  });
});

describe('terminals: viewer slots kept for owners', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/sh', maxViewersPerSession: 3, maxReadOnlyViewersPerSession: 2, maxTerminalViewers: 5, maxReadOnlyTerminalViewers: 3 });
  });
  after(async () => {
    await srv.close();
  });

  it('read-only viewers fill their share of one terminal; the next is refused, an owner still attaches', async () => {
    const id = (await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 600' })).json.id;
    const share = (await srv.api('POST', `/api/terminals/${id}/shares`, {})).json.share;
    const ro = [await viewer(srv, id, share), await viewer(srv, id, share)];
    const third = await upgradeStatus(srv, `/api/terminals/${id}/ws?share=${share}`, false);
    assert.equal(third.status, 503);
    assert.equal(third.json.error, 'too_many_connections');
    assert.match(third.json.message, /--max-read-only-viewers-per-session/);
    const owner = await viewer(srv, id);
    assert.equal(owner.meta?.role, 'owner');
    // Now full for everyone: the per-terminal limit answers.
    const fourth = await upgradeStatus(srv, `/api/terminals/${id}/ws`, true);
    assert.equal(fourth.status, 503);
    assert.match(fourth.json.message, /--max-viewers-per-session/);
    for (const c of [...ro, owner]) c.close();
    await Promise.all([...ro, owner].map((c) => c.closed()));
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('read-only viewers across terminals fill their share of the total; owners still attach', async () => {
    const ids: string[] = [];
    const shares: string[] = [];
    for (let i = 0; i < 2; i++) {
      ids.push((await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 600' })).json.id);
      shares.push((await srv.api('POST', `/api/terminals/${ids[i]}/shares`, {})).json.share);
    }
    const ro = [await viewer(srv, ids[0]!, shares[0]), await viewer(srv, ids[0]!, shares[0]), await viewer(srv, ids[1]!, shares[1])];
    const over = await upgradeStatus(srv, `/api/terminals/${ids[1]}/ws?share=${shares[1]}`, false);
    assert.equal(over.status, 503);
    assert.match(over.json.message, /--max-read-only-terminal-viewers/);
    const owners = [await viewer(srv, ids[1]!), await viewer(srv, ids[1]!)];
    assert.ok(owners.every((c) => c.meta?.role === 'owner'));
    assert.equal(srv.keel.ctx.services.terminals!.viewerLimiter.inUse, 5);
    for (const c of [...ro, ...owners]) c.close();
    await Promise.all([...ro, ...owners].map((c) => c.closed()));
    for (const id of ids) await srv.api('DELETE', `/api/terminals/${id}`);
    await waitFor(() => srv.keel.ctx.services.terminals!.viewerLimiter.inUse === 0 && srv.keel.ctx.services.terminals!.readOnlyViewerLimiter.inUse === 0, 'slots released');
  });
});

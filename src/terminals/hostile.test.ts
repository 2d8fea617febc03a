/** Bad input and limits: each gets its documented answer (docs/protocol.md) and the server keeps serving. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { encodeClient } from './protocol.ts';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

function upgradeStatus(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => {
      ws.close();
      reject(new Error('upgrade unexpectedly accepted'));
    });
    ws.on('error', () => {});
  });
}

describe('terminals: bad input and limits', () => {
  let srv: TestServer;
  let id: string;
  let share: string;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash', maxWsFrameBytes: 4096, maxTerminalSessions: 3, maxViewersPerSession: 2, maxTerminalViewers: 3 });
    const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'bash --norc --noprofile -i' });
    id = r.json.id;
    share = (await srv.api('POST', `/api/terminals/${id}/shares`, {})).json.share;
  });
  after(async () => {
    await srv.close();
  });

  async function stillServes() {
    const a = new TestClient(srv, id);
    await a.opened();
    await a.ready();
    const w = `ok-${Math.floor(Math.random() * 1e9)}`;
    a.input(`echo ${w}\r`);
    await waitFor(() => a.text.includes(w + '\r\n'), 'echo after bad input');
    a.close();
    await a.closed();
  }

  it('unknown opcode, empty and truncated frames, bad JSON and absurd resize get an e notice; the socket stays open', async () => {
    const c = new TestClient(srv, id);
    await c.opened();
    await waitFor(() => c.snapshots === 1, 'snapshot');
    c.ws.send(Buffer.from('Zhello'));
    c.ws.send(Buffer.alloc(0));
    c.ws.send(Buffer.from('r{"cols":8'));
    c.ws.send(Buffer.from('r{"cols":100000,"rows":100000}'));
    c.ws.send(Buffer.from('r{"cols":-1,"rows":24}'));
    c.ws.send(Buffer.from('a-12'));
    c.ws.send(Buffer.from('a'));
    await waitFor(() => c.notices.length === 7, 'seven notices');
    assert.deepEqual(
      c.notices.map((n) => n.code),
      ['unknown_opcode', 'empty_frame', 'invalid_resize', 'invalid_resize', 'invalid_resize', 'invalid_ack', 'invalid_ack'],
    );
    assert.equal(c.meta?.cols, 80, 'absurd resize changed nothing');
    c.ws.send(encodeClient.resize(100, 30));
    await waitFor(() => c.meta?.cols === 100 && c.meta.rows === 30, 'a valid resize');
    assert.equal(c.closeCode, undefined);
    c.close();
    await stillServes();
  });

  it('more than 16 invalid frames close the socket with 1008', async () => {
    const c = new TestClient(srv, id);
    await c.opened();
    for (let i = 0; i < 20; i++) c.ws.send(Buffer.from('?'));
    await c.closed();
    assert.equal(c.closeCode, 1008);
    await stillServes();
  });

  it('an oversized frame closes with 1009', async () => {
    const c = new TestClient(srv, id);
    await c.opened();
    c.ws.send(Buffer.concat([Buffer.from('i'), Buffer.alloc(10_000, 0x61)]));
    await c.closed();
    assert.equal(c.closeCode, 1009);
    await stillServes();
  });

  it('a viewer closed mid-frame is released and nothing else is affected', async () => {
    const { port } = new URL(srv.base);
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`GET /api/terminals/${id}/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${srv.token}\r\nOrigin: ${srv.base}\r\n\r\n`);
    await new Promise<void>((r) => sock.once('data', () => r()));
    await waitFor(() => srv.keel.ctx.services.terminals!.get(id)!.viewerCount === 1, 'raw viewer attached');
    // A masked binary frame header announcing 1000 bytes, then only 3 of them, then the TCP connection drops.
    sock.write(Buffer.from([0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4, 0x69, 0x61, 0x62]));
    sock.destroy();
    await waitFor(() => srv.keel.ctx.services.terminals!.get(id)!.viewerCount === 0, 'raw viewer released');
    await stillServes();
  });

  it('unauthenticated upgrade → 401, cross-origin → 403, bad share → 401, unknown terminal → 404', async () => {
    const url = srv.base.replace('http', 'ws') + `/api/terminals/${id}/ws`;
    const none = await upgradeStatus(url, { origin: srv.base });
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).error, 'unauthorized');
    const cross = await upgradeStatus(url, { authorization: 'Bearer ' + srv.token, origin: 'http://evil.example' });
    assert.equal(cross.status, 403);
    assert.equal(JSON.parse(cross.body).error, 'origin_not_allowed');
    const badShare = await upgradeStatus(url + '?share=' + share.slice(0, -2) + 'xx', { origin: srv.base });
    assert.equal(badShare.status, 401);
    const other = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 60' });
    const wrongTerminal = await upgradeStatus(srv.base.replace('http', 'ws') + `/api/terminals/${other.json.id}/ws?share=${share}`, { origin: srv.base });
    assert.equal(wrongTerminal.status, 401, 'a share link grants only its own terminal');
    await srv.api('DELETE', `/api/terminals/${other.json.id}`);
    const missing = await upgradeStatus(srv.base.replace('http', 'ws') + '/api/terminals/t_nope/ws', { authorization: 'Bearer ' + srv.token, origin: srv.base });
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).error, 'terminal_not_found');
    await stillServes();
  });

  it('limits: viewers per session and in total → 503 before the upgrade; sessions → 503 on create', async () => {
    const a = new TestClient(srv, id);
    const b = new TestClient(srv, id);
    await Promise.all([a.opened(), b.opened()]);
    const url = srv.base.replace('http', 'ws') + `/api/terminals/${id}/ws`;
    const third = await upgradeStatus(url, { authorization: 'Bearer ' + srv.token, origin: srv.base });
    assert.equal(third.status, 503);
    const body = JSON.parse(third.body);
    assert.equal(body.error, 'too_many_connections');
    assert.match(body.message, /--max-viewers-per-session/);

    const s2 = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 60' });
    const s3 = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 60' });
    assert.equal(s3.status, 201);
    const s4 = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 60' });
    assert.equal(s4.status, 503);
    assert.equal(s4.json.error, 'too_many_connections');
    assert.match(s4.json.message, /--max-terminal-sessions/);

    const c = new TestClient(srv, s2.json.id);
    await c.opened();
    const total = await upgradeStatus(srv.base.replace('http', 'ws') + `/api/terminals/${s2.json.id}/ws`, { authorization: 'Bearer ' + srv.token, origin: srv.base });
    assert.equal(total.status, 503);
    assert.match(JSON.parse(total.body).message, /--max-terminal-viewers/);
    for (const v of [a, b, c]) v.close();
    await Promise.all([a.closed(), b.closed(), c.closed()]);
    await srv.api('DELETE', `/api/terminals/${s2.json.id}`);
    await srv.api('DELETE', `/api/terminals/${s3.json.id}`);
    await waitFor(() => srv.keel.ctx.services.terminals!.viewerLimiter.inUse === 0, 'viewer slots released');
    await stillServes();
  });

  it('input to an exited session: notice or refusal, then 1000; a new upgrade gets 404', async () => {
    const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'read -r _; echo bye' });
    const c = new TestClient(srv, r.json.id);
    await c.opened();
    await waitFor(() => c.snapshots === 1, 'snapshot');
    c.input('\r');
    await waitFor(() => c.exit !== undefined, 'exit frame');
    c.input('echo too-late\r'); // may race with the close: either ignored with a notice or dropped by the closed socket
    await c.closed();
    assert.equal(c.closeCode, 1000);
    assert.ok(!c.text.includes('too-late\r\n'));
    const again = await upgradeStatus(srv.base.replace('http', 'ws') + `/api/terminals/${r.json.id}/ws`, { authorization: 'Bearer ' + srv.token, origin: srv.base });
    assert.equal(again.status, 404);
    await stillServes();
  });
});

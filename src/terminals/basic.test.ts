import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

describe('terminals: REST and viewers', () => {
  let srv: TestServer;
  before(async () => {
    // /bin/sh: the machine's ~/.bashrc may take a minute (pyenv init); the shell under test is ours, not its rc files.
    srv = await startServer({ terminalShell: '/bin/sh' });
  });
  after(async () => {
    await srv.close();
  });

  it('creates, lists, renames and closes a terminal', async () => {
    const c = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, name: 'one' });
    assert.equal(c.status, 201, c.text);
    assert.match(c.json.id, /^t_/);
    assert.equal(c.json.name, 'one');
    assert.ok(c.json.pid > 0);
    assert.equal(c.json.share, undefined, 'no standing share capability: share links are made on request (POST /api/terminals/:id/shares)');
    const l = await srv.api('GET', '/api/terminals');
    assert.ok(l.json.terminals.some((t: { id: string }) => t.id === c.json.id));
    const p = await srv.api('PATCH', `/api/terminals/${c.json.id}`, { name: 'renamed' });
    assert.equal(p.json.name, 'renamed');
    const d = await srv.api('DELETE', `/api/terminals/${c.json.id}`);
    assert.equal(d.status, 204);
    assert.equal((await srv.api('GET', `/api/terminals/${c.json.id}`)).status, 404);
    assert.equal((await srv.api('DELETE', `/api/terminals/${c.json.id}`)).json.error, 'terminal_not_found');
  });

  it('refuses bad bodies with 400 JSON', async () => {
    for (const body of [{ cols: 0, rows: 24 }, { cols: 80 }, { cols: 80, rows: 100_000 }, { cols: 80.5, rows: 24 }, { cols: 80, rows: 24, extra: 1 }, { cols: 80, rows: 24, name: '' }]) {
      const r = await srv.api('POST', '/api/terminals', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error, 'invalid_request');
    }
    const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, cwd: '/definitely/not/here' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_cwd');
  });

  it('echo: input reaches the shell and output comes back; two viewers see it; read-only cannot write', async () => {
    const c = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, cwd: '/tmp' });
    const id = c.json.id as string;
    const a = new TestClient(srv, id);
    const b = new TestClient(srv, id);
    const link = await srv.api('POST', `/api/terminals/${id}/shares`, {});
    const ro = new TestClient(srv, id, { share: link.json.share });
    await Promise.all([a.opened(), b.opened(), ro.opened()]);
    await waitFor(() => b.snapshots > 0 && ro.snapshots > 0, 'snapshots');
    await a.ready();
    assert.equal(ro.meta?.role, 'read-only');
    assert.equal(a.meta?.role, 'owner');
    const word = `hello-${Math.floor(Math.random() * 1e9)}`;
    a.input(`echo ${word}\r`);
    for (const v of [a, b, ro]) {
      await waitFor(async () => (await v.screen()).split('\n').some((l) => l.trim() === word), `echo on ${v === ro ? 'read-only' : 'owner'} viewer`).catch(async (err) => {
        console.error(JSON.stringify(v.text), v.frames, v.notices, await v.screen());
        throw err;
      });
    }

    const marker = `ro-${Math.floor(Math.random() * 1e9)}`;
    ro.input(`echo ${marker}\r`);
    await waitFor(() => ro.notices.some((n) => n.code === 'read_only'), 'read_only notice');
    // A later owner command proves the read-only input never reached the PTY (it would have been echoed first).
    a.input('echo done-$((40+2))\r');
    await waitFor(() => a.text.includes('done-42'), 'owner marker');
    assert.ok(!a.text.includes(marker), 'read-only input must never be written');
    const resizeNotices = ro.notices.length;
    ro.ws.send(Buffer.from('r{"cols":100,"rows":30}'));
    await waitFor(() => ro.notices.length > resizeNotices, 'read-only resize refused');
    for (const v of [a, b, ro]) v.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('screen text for the agent', async () => {
    const c = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'echo screen-$((6*7)); sleep 30' });
    await waitFor(async () => (await srv.api('GET', `/api/terminals/${c.json.id}/screen`)).text.includes('screen-42'), 'screen text');
    await srv.api('DELETE', `/api/terminals/${c.json.id}`);
  });

  it('reports stats and budget in /debug/memory', async () => {
    const r = await srv.api('GET', '/debug/memory');
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.subsystems.terminals.sessions, 'number');
    assert.equal(typeof r.json.subsystems.terminals.mirror_bytes, 'number');
    assert.equal(r.json.connections.max_terminal_sessions, 32);
    assert.ok('terminal_viewers' in r.json.connections);
    assert.ok(r.json.budget.by_subsystem.terminals > 0);
  });
});

/** Process lifecycle: no zombie, no orphan; shutdown; tabs that survive a restart; idle close and inactive trim. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { procState, startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

const inSession = (sid: number) => procState().filter((p) => p.session === sid);
const zombiesOf = (sid: number) => procState().filter((p) => p.state === 'Z' && (p.session === sid || p.ppid === process.pid));
const comm = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

describe('terminals: lifecycle', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash', terminalKillGraceMs: 1000 });
  });
  after(async () => {
    await srv.close();
  });

  it('a shell child killed with SIGKILL leaves no zombie; the shell keeps working', async () => {
    const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'bash --norc --noprofile -i' });
    const pid = r.json.pid as number;
    const c = new TestClient(srv, r.json.id);
    await c.opened();
    await c.ready();
    c.input('sleep 1000\r');
    await waitFor(() => inSession(pid).some((p) => comm(p.pid) === 'sleep'), 'sleep running');
    const sleep = inSession(pid).find((p) => comm(p.pid) === 'sleep')!;
    process.kill(sleep.pid, 'SIGKILL');
    await waitFor(() => !procState().some((p) => p.pid === sleep.pid), 'the killed child to be reaped');
    assert.deepEqual(zombiesOf(pid), []);
    c.input('echo alive-$((2+2))\r');
    await waitFor(() => c.text.includes('alive-4'), 'shell still alive');
    c.close();
    await srv.api('DELETE', `/api/terminals/${r.json.id}`);
  });

  it('closing a session with a running sleep, a background job and a HUP-ignoring job leaves no process and no zombie', async () => {
    const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'bash --norc --noprofile -i' });
    const pid = r.json.pid as number;
    const c = new TestClient(srv, r.json.id);
    await c.opened();
    await c.ready();
    c.input("sleep 1001 & (trap '' HUP; exec sleep 1002) & sleep 1003\r");
    await waitFor(() => inSession(pid).filter((p) => comm(p.pid) === 'sleep').length === 3, 'three sleeps');
    const del = await srv.api('DELETE', `/api/terminals/${r.json.id}`);
    assert.equal(del.status, 204);
    // DELETE resolves once the session is reaped: nothing may be left, not even the HUP-ignoring job.
    await waitFor(() => inSession(pid).filter((p) => p.state !== 'Z').length === 0, 'no process left in the session', 5_000);
    await waitFor(() => zombiesOf(pid).length === 0, 'no zombie', 5_000);
    await c.closed();
    assert.equal(c.closeCode, 1000);
    assert.ok(c.exit, 'exit frame before the close');
  });

  it('idle close and inactive trim', async () => {
    const s2 = await startServer({ terminalShell: '/bin/bash', terminalIdleCloseMs: 1500, terminalInactiveTrimMs: 200 });
    try {
      const r = await s2.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'seq 1 3000; sleep 600' });
      await waitFor(() => s2.keel.ctx.audit.entries().some((e) => e.subsystem === 'terminals' && e.kind === 'trim' && e.detail.includes(r.json.id)), 'inactive trim');
      await waitFor(() => s2.keel.ctx.audit.entries().some((e) => e.kind === 'reap' && e.detail.includes(r.json.id)), 'idle close');
      await waitFor(async () => (await s2.api('GET', `/api/terminals/${r.json.id}`)).status === 404, 'session gone');
      await waitFor(() => inSession(r.json.pid).length === 0, 'processes gone');
      // The health monitor's trim hook also reaches terminals.
      const r2 = await s2.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 600' });
      s2.keel.ctx.health.runTrims('warning');
      assert.ok(s2.keel.ctx.audit.entries().some((e) => e.subsystem === 'terminals' && e.detail.includes('terminal(s) without viewers')));
      await s2.api('DELETE', `/api/terminals/${r2.json.id}`);
    } finally {
      await s2.close();
    }
  });

  it('shutdown tells viewers 1001, leaves no process; the tabs come back after a restart as new shells in the same directory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-restore-'));
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-cwd-'));
    try {
      const a = await startServer({ terminalShell: '/bin/sh' }, dir);
      const t1 = await a.api('POST', '/api/terminals', { cols: 100, rows: 30, cwd, name: 'work' });
      const t2 = await a.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 1000', name: 'sleeper' });
      const c = new TestClient(a, t1.json.id);
      await c.opened();
      await waitFor(() => c.snapshots === 1, 'snapshot');
      await a.keel.close('test');
      await c.closed();
      assert.equal(c.closeCode, 1001);
      for (const t of [t1, t2]) assert.equal(inSession(t.json.pid).filter((p) => p.state !== 'Z').length, 0, 'no process left after shutdown');

      const b = await startServer({ terminalShell: '/bin/sh' }, dir);
      try {
        const prev = await b.api('GET', '/api/terminals/previous');
        assert.deepEqual(prev.json.terminals.map((t: { name: string }) => t.name), ['work', 'sleeper']);
        const restored = await b.api('POST', '/api/terminals/restore', { ids: [t1.json.id] });
        assert.equal(restored.status, 201, restored.text);
        const nt = restored.json.terminals[0];
        assert.equal(nt.name, 'work');
        assert.equal(nt.cwd, cwd);
        assert.equal(nt.cols, 100);
        assert.notEqual(nt.id, t1.json.id);
        const v = new TestClient(b, nt.id);
        await v.opened();
        await v.ready();
        v.input('pwd\r');
        await waitFor(() => v.text.includes(cwd + '\r\n'), 'the restored shell runs in the same directory');
        v.close();
        const left = await b.api('GET', '/api/terminals/previous');
        assert.deepEqual(left.json.terminals.map((t: { name: string }) => t.name), ['sleeper']);
        assert.equal((await b.api('DELETE', '/api/terminals/previous')).status, 204);
        assert.deepEqual((await b.api('GET', '/api/terminals/previous')).json.terminals, []);
      } finally {
        await b.keel.close('test');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

/**
 * Issue 10, point 4 (terminals' part): a create that fails after the PTY was spawned — here the
 * tab store's write throws, as a locked database's did after 5 s — leaves nothing behind: no
 * process, no session slot, no map entry, and the next create works.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startServer, waitFor, type TestServer } from './test-helpers.ts';

/** Pids whose command line is exactly `argv`. */
function pidsRunning(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8') === want) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('terminals: a failed create leaves nothing behind', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/sh', maxTerminalSessions: 1, terminalKillGraceMs: 1_000 });
  });
  after(async () => {
    await srv.close();
  });

  it('the tab store write throws: 500 JSON, and no process, slot or session remains', async () => {
    const mgr = srv.keel.ctx.services.terminals!;
    const marker = String(70_000 + Math.floor(Math.random() * 9_999));
    const real = mgr.tabs.add;
    mgr.tabs.add = () => {
      throw Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 5 });
    };
    let r;
    try {
      r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `exec sleep ${marker}` });
    } finally {
      mgr.tabs.add = real;
    }
    assert.equal(r.status, 500, r.text);
    assert.equal(typeof r.json.error, 'string');
    assert.equal(typeof r.json.message, 'string');
    assert.equal(mgr.list().length, 0, 'no session in the map');
    assert.equal((await srv.api('GET', '/api/terminals')).json.terminals.length, 0);
    await waitFor(() => pidsRunning(['sleep', marker]).length === 0, 'the spawned shell to be gone', 10_000);
    await waitFor(() => mgr.sessionLimiter.inUse === 0, 'the session slot to be released', 10_000);
    assert.equal(mgr.stats().sessions, 0);

    // With --max-terminal-sessions 1, a leaked slot would refuse this.
    const ok = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `exec sleep ${marker}` });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(pidsRunning(['sleep', marker]).length, 1);
    assert.equal((await srv.api('DELETE', `/api/terminals/${ok.json.id}`)).status, 204);
    assert.equal(pidsRunning(['sleep', marker]).length, 0);
  });
});

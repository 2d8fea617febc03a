import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseTpgid } from './foreground.ts';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

describe('terminals: the foreground program (asked before closing a tab)', () => {
  let srv: TestServer;
  before(async () => {
    // /bin/sh: an interactive dash has job control, so a job gets its own foreground process group.
    srv = await startServer({ terminalShell: '/bin/sh' });
  });
  after(async () => {
    await srv.close();
  });

  it('parses tpgid from /proc/<pid>/stat, whatever the command name holds', () => {
    assert.equal(parseTpgid('4242 (bash) S 4000 4242 4242 34816 4300 4194560 0 0'), 4300);
    assert.equal(parseTpgid('77 (we ird) (name) S 1 77 77 34817 -1 4194560'), undefined, 'no terminal: -1');
    assert.equal(parseTpgid('garbage'), undefined);
  });

  it('is null at the prompt, names the running program, and is null again after it ends', async () => {
    const c = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, cwd: '/tmp' });
    const id = c.json.id as string;
    assert.equal(c.json.foreground, null, 'a new shell runs nothing');
    const a = new TestClient(srv, id);
    await a.opened();
    await a.ready();
    a.input('sleep 30\r');
    await waitFor(async () => (await srv.api('GET', `/api/terminals/${id}`)).json.foreground === 'sleep', 'foreground "sleep"');
    const list = await srv.api('GET', '/api/terminals');
    assert.equal(list.json.terminals.find((t: { id: string }) => t.id === id).foreground, 'sleep', 'the list says it too');
    a.input('\x03');
    await waitFor(async () => (await srv.api('GET', `/api/terminals/${id}`)).json.foreground === null, 'back at the prompt');
    a.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('a terminal made with a command names its program', async () => {
    const c = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'sleep 30' });
    await waitFor(async () => (await srv.api('GET', `/api/terminals/${c.json.id}`)).json.foreground === 'sleep', 'foreground "sleep"');
    await srv.api('DELETE', `/api/terminals/${c.json.id}`);
  });
});

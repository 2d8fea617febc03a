/**
 * One terminal's output that makes xterm.js throw must not touch another terminal (issue 11,
 * point 5). Both sessions share one mirror worker; before, the exception killed the worker: every
 * viewer of every terminal was closed with 1011 and the bystander came back blank.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodeClient } from './protocol.ts';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

/** `render: false` for the victim: the test's own headless xterm would throw on the same output (browsers' too: xterm-guards.ts). */
async function open(srv: TestServer, command: string, cols = 80, rows = 24, render = true): Promise<{ id: string; viewer: TestClient }> {
  const { json } = await srv.api('POST', '/api/terminals', { cols, rows, command });
  const id = json.id as string;
  const viewer = new TestClient(srv, id, { cols, rows, render });
  await viewer.opened();
  await waitFor(() => viewer.snapshots === 1, 'the first snapshot');
  return { id, viewer };
}

async function reconnectScreen(srv: TestServer, id: string): Promise<string> {
  const c = new TestClient(srv, id);
  await c.opened();
  await waitFor(() => c.snapshots === 1, 'the reconnect snapshot');
  const s = await c.screen();
  c.close();
  return s;
}

describe('terminals: output that makes xterm throw stays in its terminal', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('ED 1 in the bottom-right corner (default scrollback)', async () => {
    const srv = await startServer({ terminalShell: '/bin/bash', terminalMirrorWorkers: 1 });
    servers.push(srv);
    const bystander = await open(srv, `printf '\\e[1;32mbystander\\e[0m content\\n'; exec sleep 600`);
    await waitFor(async () => (await bystander.viewer.screen()).includes('content'), 'the bystander output');
    const victim = await open(srv, `read -r _; echo before; printf '\\e[24;80H\\e[1J'; echo; echo survived; exec sleep 600`, 80, 24, false);
    victim.viewer.input('\r');
    await waitFor(() => victim.viewer.text.includes('survived'), 'the victim output');
    assert.match(await reconnectScreen(srv, victim.id), /survived/);
    assert.match(await reconnectScreen(srv, bystander.id), /bystander content/);
    assert.equal(bystander.viewer.closeCode, undefined, 'the bystander viewer was closed');
    assert.equal(victim.viewer.closeCode, undefined, 'the victim viewer was closed');
    assert.equal(srv.keel.ctx.services.terminals!.stats().mirror_workers, 1);
    bystander.viewer.close();
    victim.viewer.close();
  });

  it('resizes without scrollback, then a scroll inside a region', async () => {
    const srv = await startServer({ terminalShell: '/bin/bash', terminalMirrorWorkers: 1, terminalScrollbackLines: 0 });
    servers.push(srv);
    const bystander = await open(srv, `printf 'bystander content\\n'; exec sleep 600`, 40, 10);
    await waitFor(async () => (await bystander.viewer.screen()).includes('content'), 'the bystander output');
    const step = `read -r _`;
    const victim = await open(
      srv,
      `${step}; printf 'x%.0s' $(seq 21); printf '\\e[L\\e8'; ${step}; printf '\\e[H'; ${step}; printf '\\e[5;10r\\e8\\n\\n'; printf 'y%.0s' $(seq 28); echo; echo survived; exec sleep 600`,
      20,
      5,
      false,
    );
    const v = victim.viewer;
    v.input('\r');
    await waitFor(() => v.text.includes('x'.repeat(20)), 'the first output');
    v.ws.send(encodeClient.resize(6, 4));
    await waitFor(() => v.meta?.cols === 6, 'the first resize');
    v.input('\r');
    await waitFor(() => v.text.includes('\x1b[H'), 'the cursor home');
    v.ws.send(encodeClient.resize(27, 6));
    await waitFor(() => v.meta?.cols === 27, 'the second resize');
    v.input('\r');
    await waitFor(() => v.text.includes('survived'), 'the last output');
    assert.match(await reconnectScreen(srv, victim.id), /survived/);
    assert.match(await reconnectScreen(srv, bystander.id), /bystander content/);
    assert.equal(bystander.viewer.closeCode, undefined, 'the bystander viewer was closed');
    assert.equal(v.closeCode, undefined, 'the victim viewer was closed');
    bystander.viewer.close();
    v.close();
  });
});

/**
 * Leak scenario (test/leak-kit.ts): one terminal per cycle — create, attach a viewer, see the
 * snapshot and an echo, close — resolved only when the viewer's socket has closed and the session
 * is gone. measure() reports the manager's maps and slots, which must come back to 0.
 */
import assert from 'node:assert/strict';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

let srv: TestServer;

/** The server of this scenario (flood-churn-scenario.ts measures it too). */
export function srvOf(): TestServer {
  return srv;
}

export async function setup(): Promise<void> {
  srv = await startServer({ terminalShell: '/bin/sh' });
}

export async function cycle(i: number): Promise<void> {
  const { id, v } = await openTerminal(i, `read -r line; echo "got-$line"; sleep 60`, { keepText: true });
  v.input(`c${i}\r`);
  await waitFor(() => v.text.includes(`got-c${i}\r\n`), 'echo');
  await closeTerminal(i, id, v);
}

/** Creates a terminal running `command` and attaches a viewer, resolved once its snapshot arrived (shared with flood-churn-scenario.ts). */
export async function openTerminal(i: number, command: string, opts: { keepText: boolean }): Promise<{ id: string; v: TestClient }> {
  const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command });
  if (r.status !== 201) assert.fail(`cycle ${i}: create answered ${r.status} ${r.text}`);
  const v = new TestClient(srv, r.json.id, { render: false, keepText: opts.keepText, scrollback: 0 });
  await v.opened();
  await waitFor(() => v.snapshots === 1, 'snapshot');
  return { id: r.json.id as string, v };
}

/** Closes the terminal, resolved once the viewer's socket has closed. */
export async function closeTerminal(i: number, id: string, v: TestClient): Promise<void> {
  const d = await srv.api('DELETE', `/api/terminals/${id}`);
  if (d.status !== 204) assert.fail(`cycle ${i}: delete answered ${d.status}`);
  await v.closed();
  v.term.dispose();
}

export async function settle(): Promise<void> {
  const m = srv.keel.ctx.services.terminals!;
  await waitFor(() => m.list().length === 0 && m.viewerLimiter.inUse === 0 && m.sessionLimiter.inUse === 0, 'terminals released');
}

export function measure(): Record<string, number> {
  const m = srv.keel.ctx.services.terminals!;
  const s = m.stats();
  return { sessions: s.sessions ?? 0, viewers: s.viewers ?? 0, session_slots: m.sessionLimiter.inUse, viewer_slots: m.viewerLimiter.inUse, owner_items: srv.keel.ctx.owner.size };
}

export async function teardown(): Promise<void> {
  await srv?.close();
}

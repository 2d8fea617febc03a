/**
 * Leak scenario (test/leak-kit.ts): terminals torn down in the middle of a plain-text flood, when
 * output is held for the mirror (its quiet timer armed) and gathered for the viewer (its frame
 * timer armed). Each cycle: a terminal printing ~170 KB of lines, a viewer that drops its socket
 * after the first 32 KB, then the terminal is closed. measure() reports the held and queued bytes
 * and the maps, which must come back to 0; the kit counts the timers as handles.
 */
import assert from 'node:assert/strict';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

let srv: TestServer;

export async function setup(): Promise<void> {
  srv = await startServer({ terminalShell: '/bin/sh' });
}

export async function cycle(i: number): Promise<void> {
  const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'read -r _; seq 1 30000; sleep 60' });
  if (r.status !== 201) assert.fail(`cycle ${i}: create answered ${r.status} ${r.text}`);
  const v = new TestClient(srv, r.json.id, { render: false, keepText: false, scrollback: 0 });
  await v.opened();
  await waitFor(() => v.snapshots === 1, 'snapshot');
  v.input('\r');
  await waitFor(() => v.outputBytes > 32 * 1024, 'the flood to start');
  v.ws.terminate();
  const d = await srv.api('DELETE', `/api/terminals/${r.json.id}`);
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
  return {
    sessions: s.sessions ?? 0,
    viewers: s.viewers ?? 0,
    mirror_held_bytes: s.mirror_held_bytes ?? 0,
    mirror_backlog_bytes: s.mirror_backlog_bytes ?? 0,
    queued_bytes: s.queued_bytes ?? 0,
    owner_items: srv.keel.ctx.owner.size,
  };
}

export async function teardown(): Promise<void> {
  await srv?.close();
}

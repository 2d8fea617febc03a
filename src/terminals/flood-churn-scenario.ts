/**
 * Leak scenario (test/leak-kit.ts): terminals torn down in the middle of a plain-text flood, when
 * output is held for the mirror (its quiet timer armed) and gathered for the viewer (its frame
 * timer armed). Each cycle: a terminal printing ~170 KB of lines, a viewer that drops its socket
 * after the first 32 KB, then the terminal is closed. measure() reports the held and queued bytes
 * and the maps, which must come back to 0; the kit counts the timers as handles.
 */
import { closeTerminal, openTerminal, srvOf } from './churn-scenario.ts';
import { waitFor } from './test-helpers.ts';

export { settle, setup, teardown } from './churn-scenario.ts';

export async function cycle(i: number): Promise<void> {
  const { id, v } = await openTerminal(i, 'read -r _; seq 1 30000; sleep 60', { keepText: false });
  v.input('\r');
  await waitFor(() => v.outputBytes > 32 * 1024, 'the flood to start');
  v.ws.terminate();
  await closeTerminal(i, id, v);
}

export function measure(): Record<string, number> {
  const srv = srvOf();
  const s = srv.keel.ctx.services.terminals!.stats();
  return {
    sessions: s.sessions ?? 0,
    viewers: s.viewers ?? 0,
    mirror_held_bytes: s.mirror_held_bytes ?? 0,
    mirror_backlog_bytes: s.mirror_backlog_bytes ?? 0,
    queued_bytes: s.queued_bytes ?? 0,
    owner_items: srv.keel.ctx.owner.size,
  };
}

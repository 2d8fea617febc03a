/**
 * Leak scenario: one /stream connect/disconnect per cycle, on a fresh connection, rotating through
 * the ways a subscriber lives: live only, resuming with a backlog (Last-Event-ID), filtered by chat
 * session, and (every 10th cycle) receiving a live event before it leaves. A cycle resolves only once
 * its socket has closed on the client side.
 * Cycles run concurrently, so a subscriber may also see events appended by other cycles.
 */
import assert from 'node:assert/strict';
import { openSse } from '../../src/stream/test-client.ts';
import { connectionsInUse, request, startKeel, waitFor, type TestKeel } from '../helpers.ts';

let k: TestKeel;
let session = '';

export async function setup(): Promise<void> {
  // A small per-session retention keeps the database (native memory, not heap) from growing with the cycles.
  k = await startKeel({ maxSseConnections: 16, eventLogMaxEventsPerSession: 200 });
  const res = await request(`${k.url}/api/chat/sessions`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 201, res.text);
  session = res.json().id;
  for (let i = 0; i < 20; i++) k.keel.ctx.services.eventLog!.append(session, { type: 'assistant_delta', messageId: 'm', text: `backlog ${i}` });
}

export async function cycle(i: number): Promise<void> {
  const log = k.keel.ctx.services.eventLog!;
  const mode = i % 4;
  const headers: Record<string, string> = { ...k.authHeaders };
  let url = `${k.url}/stream`;
  let backlog = 0;
  if (mode === 1) {
    headers['last-event-id'] = String(log.head() - 5);
    backlog = 5;
  } else if (mode === 2) url += `?session=${session}&from=${log.head() - 2}`;
  if (mode === 2) backlog = 2;
  const c = await openSse(url, { headers });
  try {
    await c.until(() => c.states.length >= 1 && c.events.length >= backlog, `cycle ${i}: the state and ${backlog} backlog events`);
    if (i % 10 === 0) {
      const e = log.append(session, { type: 'assistant_delta', messageId: 'm', text: `live ${i}` });
      await c.until(() => c.lastId() >= e.seq, `cycle ${i}: the live event`);
    }
  } finally {
    await c.close();
  }
}

/** Wait until the server has released every SSE slot and HTTP connection. */
export async function settle(): Promise<void> {
  await waitFor(() => connectionsInUse(k, 'sse_connections') === 0 && connectionsInUse(k, 'http_connections') === 0, 'SSE and HTTP connections back to 0');
}

export function measure(): Record<string, number> {
  const s = k.keel.ctx.observe.subsystems().stream as Record<string, number>;
  return {
    sse_connections: connectionsInUse(k, 'sse_connections'),
    subscribers: s.subscribers!,
    session_filters: s.session_filters!,
    heartbeat_timer: s.heartbeat_timer!,
    owner_items: k.keel.ctx.owner.size,
  };
}

export async function teardown(): Promise<void> {
  await k?.close();
}

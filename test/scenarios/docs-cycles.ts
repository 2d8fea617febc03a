/**
 * Leak scenario for shared documents: each cycle opens a document (200 of them, round robin),
 * edits it, takes the edit lock, shares a presence, and on odd cycles has a second editor whose
 * edit is refused by the lock; then everyone closes, and the document is stored and unloaded
 * (grace 0). `measure()` reports every per-document and per-client structure the subsystem has.
 * params: { documents?: number }.
 */
import assert from 'node:assert/strict';
import { DocClient } from '../../src/docs/test-client.ts';
import { connectionsInUse, request, startKeel, waitFor, type TestKeel } from '../helpers.ts';

let k: TestKeel;
const FAST = { intervalMs: 1 };
const ids: string[] = [];

export async function setup(params: { documents?: number } | null): Promise<void> {
  k = await startKeel({ docUnloadGraceMs: 0, docStoreDebounceMs: 0, docStoreMaxDebounceMs: 0 });
  const n = params?.documents ?? 200;
  for (let i = 0; i < n; i++) {
    const res = await request(k.url + '/api/docs', { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ title: `doc ${i}` }) });
    assert.equal(res.status, 201, res.text);
    ids.push(res.json().id);
  }
}

const open = (id: string, name: string) => DocClient.open(`${k.wsUrl}/api/docs/${id}/ws`, { headers: k.authHeaders, name });

export async function cycle(i: number): Promise<void> {
  const id = ids[i % ids.length]!;
  const a = await open(id, 'A');
  try {
    a.append(String(i % 10));
    a.setPresence({ user: { name: 'A' }, cursor: i % 7 });
    a.requestLock(60_000);
    await waitFor(() => a.lock?.holder === a.connectionId, `cycle ${i}: A to hold the lock`, FAST);
    if (i % 2) {
      const b = await open(id, 'B');
      try {
        b.append('refused');
        await waitFor(() => b.lastControl('refused')?.reason === 'locked', `cycle ${i}: B's edit to be refused`, FAST);
      } finally {
        await b.close();
      }
    }
  } finally {
    await a.close();
  }
}

/** Every connection gone, every document stored and unloaded, nothing storing or unloading. */
export async function settle(): Promise<void> {
  const mgr = k.keel.ctx.services.docs!;
  await waitFor(() => {
    const s = mgr.stats();
    return s.connections === 0 && s.documents_loaded === 0 && s.unloading === 0 && s.stores_in_flight === 0 && connectionsInUse(k, 'http_connections') === 0;
  }, 'documents to be unloaded and connections closed');
}

export function measure(): Record<string, number> {
  const s = k.keel.ctx.services.docs!.stats();
  return {
    documents_loaded: Number(s.documents_loaded),
    doc_connections: Number(s.connections),
    doc_slots: connectionsInUse(k, 'doc_connections'),
    rate_limit_buckets: Number(s.rate_limit_buckets),
    presence_entries: Number(s.presence_entries),
    locks_held: Number(s.locks_held),
    dirty_documents: Number(s.dirty_documents),
    unloading: Number(s.unloading),
    stores_in_flight: Number(s.stores_in_flight),
    // The document worker's copies and the engine's recovery data must leave with the rooms.
    worker_documents: Number(s.worker_documents),
    worker_requests_in_flight: Number(s.worker_requests_in_flight),
    recovery_bytes: Number(s.recovery_bytes),
    behind_connections: Number(s.behind_connections),
    owner_items: k.keel.ctx.owner.size,
    http_connections: connectionsInUse(k, 'http_connections'),
  };
}

export async function teardown(): Promise<void> {
  await k?.close();
}

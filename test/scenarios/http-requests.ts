/**
 * Leak scenario: one authenticated GET per cycle on a fresh connection (`agent: false`,
 * `Connection: close`), resolved only when the client socket has closed.
 * params: { path?: string } (default /debug/memory).
 */
import assert from 'node:assert/strict';
import { connectionsInUse, request, startKeel, waitFor, type TestKeel } from '../helpers.ts';

let k: TestKeel;
let path = '/debug/memory';

export async function setup(params: { path?: string } | null): Promise<void> {
  path = params?.path ?? path;
  k = await startKeel();
}

export async function cycle(i: number): Promise<void> {
  const res = await request(k.url + path, { headers: k.authHeaders });
  if (res.status !== 200) assert.fail(`cycle ${i}: GET ${path} answered ${res.status}: ${res.text.slice(0, 200)}`);
}

/** The server closes its side after ours; wait until every HTTP connection slot is released. */
export async function settle(): Promise<void> {
  await waitFor(() => connectionsInUse(k, 'http_connections') === 0, 'open HTTP connections to drop to 0');
}

export function measure(): Record<string, number> {
  return { http_connections: connectionsInUse(k, 'http_connections'), owner_items: k.keel.ctx.owner.size };
}

export async function teardown(): Promise<void> {
  await k?.close();
}

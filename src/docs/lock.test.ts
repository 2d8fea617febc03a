import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { converged, startDocs, waitFor, type DocsServer } from './test-helpers.ts';

describe('documents: edit locks', () => {
  const clock = new FakeClock();
  let srv: DocsServer;
  before(async () => {
    srv = await startDocs({ docLockTtlMs: 60_000, docLockMaxTtlMs: 600_000 }, { clock });
  });
  after(() => srv.close());

  it('held by A: B’s edit is refused with who holds it and until when; A’s edits still go through', async () => {
    const id = await srv.create();
    const a = await srv.open(id, { name: 'Ada' });
    const b = await srv.open(id, { name: 'Bob' });
    a.append('base');
    await converged([a, b], 'base');

    a.requestLock();
    await waitFor(() => a.lock && b.lock, 'both to see the lock');
    assert.equal(b.lock!.holder, a.connectionId);
    assert.equal(b.lock!.name, 'Ada');
    assert.equal(Date.parse(b.lock!.expiresAt), clock.now() + 60_000);
    assert.equal(b.lastControl('lock')!.reason, 'acquired');

    b.append(' from bob');
    await waitFor(() => b.lastControl('refused'), 'B to be told its edit was refused');
    const r = b.lastControl('refused')!;
    assert.equal(r.reason, 'locked');
    assert.equal(r.lock.name, 'Ada');
    assert.equal(r.lock.expiresAt, b.lock!.expiresAt);
    assert.match(r.message, /Ada/);
    a.append('!');
    await waitFor(async () => (await srv.mgr.room(id)!.text()) === 'base!', 'A’s edit to apply');
    await waitFor(() => a.text === 'base!', 'A to keep its own text');
    assert.equal(await srv.mgr.room(id)!.text(), 'base!', 'B’s refused edit never reached the document');

    // B asks for the lock: refused with the holder.
    b.requestLock();
    await waitFor(() => b.lastControl('refused', (m) => m.reason === 'lock_held'), 'lock_held');
    // REST by B's connection: 409 with the lock.
    const rest = await srv.api('POST', `/api/docs/${id}/lock`, { connection: b.connectionId });
    assert.equal(rest.status, 409);
    assert.equal(rest.json.error, 'locked');
    assert.equal(rest.json.lock.holder, a.connectionId);
    // B may not release A's lock.
    assert.equal((await srv.api('DELETE', `/api/docs/${id}/lock?connection=${b.connectionId}`)).json.error, 'not_lock_holder');
    b.unlock();
    await waitFor(() => b.lastControl('refused', (m) => m.reason === 'not_lock_holder'), 'not_lock_holder');
    assert.equal(srv.stats().locks_held, 1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a killed holder’s lock is released at once and B can lock', async () => {
    const id = await srv.create();
    const a = await srv.open(id, { name: 'Ada' });
    const b = await srv.open(id, { name: 'Bob' });
    const got = await srv.api('POST', `/api/docs/${id}/lock`, { connection: a.connectionId, ttlMs: 120_000 });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.lock.ttlMs, 120_000);
    await waitFor(() => b.lock?.holder === a.connectionId, 'B to see A’s lock');
    await a.kill(); // no close frame: the TCP connection just dies
    // Bound: the server sees the TCP close and releases in the same tick (no clock advance needed).
    await waitFor(() => b.lock === null, 'the lock to be released when its holder’s socket dies', { timeoutMs: 5_000 });
    assert.equal(b.lastControl('lock')!.reason, 'disconnected');
    assert.ok(srv.k.keel.ctx.audit.entries().some((e) => e.kind === 'lock-release' && e.detail.includes(id) && e.detail.includes('disconnected')));
    b.requestLock();
    await waitFor(() => b.lock?.holder === b.connectionId, 'B to hold the lock');
    b.append('mine');
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === 'mine', 'B’s edit to apply');
    await b.close();
    await waitFor(() => srv.stats().locks_held === 0, 'no lock held once everyone left');
  });

  it('expires after its TTL (fake clock), and renewal by the holder extends it', async () => {
    const id = await srv.create();
    const a = await srv.open(id, { name: 'Ada' });
    const b = await srv.open(id, { name: 'Bob' });
    a.requestLock(10_000);
    await waitFor(() => b.lock?.holder === a.connectionId, 'lock');
    const first = Date.parse(b.lock!.expiresAt);
    clock.advance(8_000);
    a.requestLock(10_000); // renew
    await waitFor(() => b.lastControl('lock')?.reason === 'renewed', 'renewal broadcast');
    assert.equal(Date.parse(b.lock!.expiresAt), first + 8_000);
    assert.equal(b.lock!.acquiredAt, b.lastControl('lock', (m) => m.reason === 'acquired')!.lock.acquiredAt, 'renewal keeps acquiredAt');
    clock.advance(8_000); // past the first expiry, before the renewed one
    assert.equal(srv.mgr.room(id)!.lockJson()?.holder, a.connectionId, 'still held after the original TTL');
    clock.advance(2_001);
    await waitFor(() => b.lock === null, 'the lock to expire');
    assert.equal(b.lastControl('lock')!.reason, 'expired');
    assert.ok(srv.k.keel.ctx.audit.entries().some((e) => e.kind === 'lock-release' && e.detail.includes('expired')));
    b.append('free again');
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === 'free again', 'B can edit after expiry');
    // A ttl above the maximum is clamped; below the minimum raised.
    const big = await srv.api('POST', `/api/docs/${id}/lock`, { connection: b.connectionId, ttlMs: 86_400_000 });
    assert.equal(big.json.lock.ttlMs, 600_000);
    b.unlock();
    await waitFor(() => a.lock === null && a.lastControl('lock')?.reason === 'released', 'explicit release');
    await Promise.all([a.close(), b.close()]);
  });

  it('a forced break releases anyone’s lock', async () => {
    const id = await srv.create();
    const a = await srv.open(id, { name: 'Ada' });
    a.requestLock();
    await waitFor(() => a.lock, 'lock');
    assert.equal((await srv.api('GET', `/api/docs/${id}`)).json.lock.holder, a.connectionId);
    assert.equal((await srv.api('DELETE', `/api/docs/${id}/lock?force=1`)).status, 204);
    await waitFor(() => a.lock === null && a.lastControl('lock')?.reason === 'broken', 'broken lock broadcast');
    await a.close();
  });
});

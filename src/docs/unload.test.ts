import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as Y from 'yjs';
import { FakeClock } from '../core/clock.ts';
import { startDocs, waitFor, type DocsServer } from './test-helpers.ts';

const GRACE = 10_000;
const DEBOUNCE = 1_000;
const MAX_DEBOUNCE = 5_000;

describe('documents: store and unload', () => {
  const clock = new FakeClock();
  let srv: DocsServer;
  before(async () => {
    srv = await startDocs({ docUnloadGraceMs: GRACE, docStoreDebounceMs: DEBOUNCE, docStoreMaxDebounceMs: MAX_DEBOUNCE, maxLoadedDocs: 3 }, { clock });
  });
  after(() => srv.close());

  it('stores and unloads after the last editor leaves; reopening restores it byte for byte', async () => {
    const id = await srv.create();
    const a = await srv.open(id);
    for (let i = 0; i < 50; i++) a.insert(Math.floor(i / 2), String(i % 10));
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === a.text, 'the server to have every edit');
    const before = (await srv.mgr.room(id)!.encodeState());
    const loadedBefore = srv.stats().documents_loaded;
    await a.close();
    await waitFor(() => srv.mgr.room(id)?.members.size === 0, 'the editor to be gone');
    clock.advance(GRACE - 1);
    assert.ok(srv.mgr.room(id), 'still loaded inside the grace');
    clock.advance(1);
    await waitFor(() => !srv.mgr.room(id), 'the document to leave memory');
    assert.equal(srv.stats().documents_loaded, loadedBefore - 1);
    assert.ok(srv.k.keel.ctx.audit.entries().some((e) => e.kind === 'unload' && e.detail.includes(id)));
    const stored = srv.mgr.docs.loadState(id)!;
    assert.deepEqual(Buffer.from(stored), Buffer.from(before), 'the stored state is the state in memory');
    assert.equal(srv.mgr.docs.get(id)!.bytes, stored.byteLength);

    const b = await srv.open(id);
    await waitFor(() => b.synced, 'sync');
    assert.deepEqual(Buffer.from((await srv.mgr.room(id)!.encodeState())), Buffer.from(stored), 'reloaded byte for byte');
    const ref = new Y.Doc();
    Y.applyUpdate(ref, before);
    assert.equal(b.text, ref.getText('content').toString());
    ref.destroy();
    await b.close();
  });

  it('an editor joining during the grace keeps the document loaded', async () => {
    const id = await srv.create();
    const a = await srv.open(id);
    a.append('stay');
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === 'stay', 'edit');
    const room = srv.mgr.room(id)!;
    await a.close();
    await waitFor(() => room.members.size === 0, 'a gone');
    clock.advance(GRACE - 100);
    const b = await srv.open(id);
    clock.advance(GRACE * 3);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.mgr.room(id), room, 'same room, never unloaded');
    assert.equal(b.text, 'stay');
    await b.close();
    await waitFor(() => room.members.size === 0, 'b gone');
    clock.advance(GRACE);
    await waitFor(() => !srv.mgr.room(id), 'unloaded after the next grace');
  });

  it('an editor joining while the unload is storing keeps it loaded (re-checked after the await)', async () => {
    const id = await srv.create();
    const a = await srv.open(id);
    a.append('racing');
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === 'racing', 'edit');
    const room = srv.mgr.room(id)!;
    const real = srv.mgr.docs.saveState;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let saves = 0;
    srv.mgr.docs.saveState = async (...args) => {
      saves++;
      await gate;
      return real.apply(srv.mgr.docs, args);
    };
    try {
      await a.close();
      await waitFor(() => room.members.size === 0, 'a gone');
      clock.advance(GRACE);
      await waitFor(() => !!room.storing, 'the unload to be storing');
      // A second unload request for the same document joins the first (deduplicated).
      const p1 = srv.mgr.unload(room, 'test');
      const p2 = srv.mgr.unload(room, 'test');
      assert.equal(p1, p2);
      const b = await srv.open(id);
      release();
      assert.equal(await p1, false, 'the unload saw the new editor and kept the document');
      assert.equal(saves, 1);
      assert.equal(srv.mgr.room(id), room);
      assert.ok(!room.isDisposed);
      assert.equal(b.text, 'racing');
      assert.equal(srv.stats().unloading, 0);
      await b.close();
    } finally {
      release();
      srv.mgr.docs.saveState = real;
    }
  });

  it('a failed store keeps the document in memory, is reported, retries, and loses no edit', async () => {
    const id = await srv.create();
    const a = await srv.open(id);
    const real = srv.mgr.docs.saveState;
    const failuresBefore = srv.stats().store_failures;
    srv.mgr.docs.saveState = async () => {
      throw new Error('disk full');
    };
    try {
      a.append('precious');
      await waitFor(async () => (await srv.mgr.room(id)?.text()) === 'precious', 'edit');
      await a.close();
      await waitFor(() => srv.mgr.room(id)?.members.size === 0, 'a gone');
      clock.advance(GRACE);
      await waitFor(() => srv.stats().store_failures > failuresBefore, 'a store failure to be counted');
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(srv.mgr.room(id), 'still in memory');
      const st = srv.stats();
      assert.ok(st.dirty_documents >= 1);
      assert.match(String(st.last_store_error), /disk full/);
      assert.ok(srv.k.keel.ctx.audit.entries().some((e) => e.kind === 'store-failed' && e.detail.includes(id)));
      const mem = await srv.api('GET', '/debug/memory');
      assert.ok(mem.json.subsystems.docs.store_failures > failuresBefore);
      // Memory pressure does not drop it either.
      srv.mgr.trim();
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(srv.mgr.room(id), 'trim keeps a document whose store fails');
    } finally {
      srv.mgr.docs.saveState = real;
    }
    // The retry (every max debounce) succeeds; the grace then unloads it.
    clock.advance(MAX_DEBOUNCE);
    await waitFor(() => srv.mgr.room(id)?.dirty === false, 'the retry to store it');
    clock.advance(GRACE);
    await waitFor(() => !srv.mgr.room(id), 'unloaded once stored');
    const exported = await srv.api('GET', `/api/docs/${id}/export`);
    assert.equal(exported.text, 'precious');
  });

  it('stores after the debounce, and at the max debounce while edits keep coming', async () => {
    const id = await srv.create();
    const a = await srv.open(id);
    a.append('x');
    await waitFor(() => srv.mgr.room(id)?.dirty, 'dirty');
    clock.advance(DEBOUNCE - 1);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(srv.mgr.docs.loadState(id), null, 'not stored before the debounce');
    clock.advance(1);
    await waitFor(() => srv.mgr.docs.loadState(id) !== null, 'stored after the debounce');
    // Edits every DEBOUNCE/2 push the debounce back; the max debounce stores anyway.
    let stored = srv.mgr.docs.loadState(id)!.byteLength;
    let storedAt = -1;
    for (let i = 1; i <= (MAX_DEBOUNCE / (DEBOUNCE / 2)) + 1; i++) {
      a.append(String(i % 10));
      const v = srv.mgr.room(id)!.version;
      await waitFor(async () => srv.mgr.room(id)!.version > v - 1 && (await srv.mgr.room(id)!.text()) === a.text, 'edit applied');
      clock.advance(DEBOUNCE / 2);
      await new Promise((r) => setTimeout(r, 5));
      const now = srv.mgr.docs.loadState(id)!.byteLength;
      if (now !== stored && storedAt < 0) storedAt = i;
      stored = now;
    }
    assert.ok(storedAt > 0 && storedAt <= MAX_DEBOUNCE / (DEBOUNCE / 2), `stored within the max debounce (at edit ${storedAt})`);
    await a.close();
    clock.advance(GRACE);
    await waitFor(() => !srv.mgr.room(id), 'unloaded');
  });

  it('at --max-loaded-docs the least recently used idle document is unloaded; if all have editors, 503', async () => {
    clock.advance(GRACE);
    await waitFor(() => srv.stats().documents_loaded === 0, 'a clean start');
    const ids = [await srv.create('one'), await srv.create('two'), await srv.create('three'), await srv.create('four')];
    const c0 = await srv.open(ids[0]!);
    c0.append('zero');
    await waitFor(async () => (await srv.mgr.room(ids[0]!)?.text()) === 'zero', 'edit');
    await c0.close();
    const c1 = await srv.open(ids[1]!);
    const c2 = await srv.open(ids[2]!);
    await waitFor(() => srv.mgr.room(ids[0]!)?.members.size === 0, 'c0 gone');
    assert.equal(srv.stats().documents_loaded, 3);
    const c3 = await srv.open(ids[3]!);
    assert.ok(!srv.mgr.room(ids[0]!), 'the idle one was unloaded');
    assert.equal((await srv.mgr.exportMarkdown(ids[0]!)).text, 'zero', '…after being stored');
    assert.equal(srv.stats().documents_loaded, 3);
    await assert.rejects(srv.open(ids[0]!), (err: any) => err.status === 503 && JSON.parse(err.body).error === 'too_many_documents');
    await Promise.all([c1.close(), c2.close(), c3.close()]);
    await waitFor(() => srv.stats().connections === 0, 'all gone');
    // The health monitor's trim unloads every document without editors.
    srv.mgr.trim();
    await waitFor(() => srv.stats().documents_loaded === 0, 'trim to unload the idle documents');
  });
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { waitFor } from '../../test/helpers.ts';
import { openDatabase, storageOf, type Database } from './db.ts';
import { UnsavedRows } from './unsaved.ts';
import { storageProblem } from './writer.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A Keel connection with a small table, and a second connection (another process, as far as SQLite cares) to lock it. */
function setup(opts: Parameters<typeof openDatabase>[1] = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-writer-'));
  dirs.push(dir);
  const db = openDatabase(dir, opts);
  db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)');
  const other = new DatabaseSync(path.join(dir, 'keel.db'));
  const writer = storageOf(db);
  const rows = new UnsavedRows<string>(writer, {
    prefix: 'kv:',
    write: (k, v) => (v === null ? db.prepare('DELETE FROM kv WHERE k = ?').run(k) : db.prepare('INSERT INTO kv VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(k, v)),
    label: (k) => `row ${k}`,
    bytes: (v) => 10 + (v?.length ?? 0),
  });
  const stored = (k: string) => (db.prepare('SELECT v FROM kv WHERE k = ?').get(k) as { v: string } | undefined)?.v;
  const close = () => {
    writer.dispose();
    db.close();
    other.close();
  };
  return { db, other, writer, rows, stored, close, file: path.join(dir, 'keel.db') };
}

const lock = (other: Database) => other.exec('BEGIN EXCLUSIVE; INSERT INTO kv VALUES (\'locker\', \'x\')');
const unlock = (other: Database) => other.exec('ROLLBACK');

describe('storage: the writer', () => {
  it('writes at once while the database is free', () => {
    const t = setup();
    try {
      assert.equal(t.rows.put('a', '1'), 'written');
      assert.equal(t.stored('a'), '1');
      assert.equal(t.rows.size, 0, 'nothing kept');
      assert.equal(t.writer.health().state, 'ok');
    } finally {
      t.close();
    }
  });

  it('while locked: keeps writes in order, newest value per row, readable at once; lands them after the lock, without waiting on the event loop', async () => {
    const t = setup();
    try {
      lock(t.other);
      const t0 = performance.now();
      assert.equal(t.rows.put('a', '1'), 'queued');
      assert.ok(performance.now() - t0 < 500, 'the failed attempt waited a few ms, not busy_timeout seconds');
      t.rows.put('b', '1');
      t.rows.put('a', '2');
      t.rows.put('b', null);
      assert.equal(t.rows.get('a'), '2', 'readers see the newest value');
      assert.equal(t.rows.get('b'), null, 'and deletions');
      const h = t.writer.health();
      assert.equal(h.state, 'degraded');
      assert.equal(h.problem, 'locked');
      assert.equal(h.pending_writes, 2, 'one kept write per row');
      assert.match(h.reason, /Another process holds a lock/);
      assert.deepEqual(t.writer.pendingLabels(), ['row a', 'row b']);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(t.writer.pending, 2, 'retried, still locked');
      unlock(t.other);
      await waitFor(() => t.writer.pending === 0, 'the kept writes to land');
      assert.equal(t.stored('a'), '2');
      assert.equal(t.stored('b'), undefined);
      assert.equal(t.rows.size, 0);
      assert.equal(t.writer.health().state, 'ok');
      assert.equal(t.writer.health().landed_after_retry_total, 2);
    } finally {
      t.close();
    }
  });

  it('writes made while others wait go behind them, even when the lock is gone', async () => {
    const t = setup();
    try {
      const order: string[] = [];
      lock(t.other);
      t.writer.write({ label: 'first', bytes: 1, run: () => void (t.db.exec("INSERT INTO kv VALUES ('o1', 'x')"), order.push('first')) });
      unlock(t.other);
      // Free now, but 'first' waits: 'second' must not overtake it.
      assert.equal(t.writer.write({ label: 'second', bytes: 1, run: () => void order.push('second') }), 'queued');
      await waitFor(() => t.writer.pending === 0, 'both to land');
      assert.deepEqual(order, ['first', 'second']);
    } finally {
      t.close();
    }
  });

  it('past --storage-max-pending-writes / -bytes a write is refused with 503 and changes nothing', () => {
    const t = setup({ maxPendingWrites: 3, maxPendingBytes: 1_000 });
    try {
      lock(t.other);
      for (const k of ['a', 'b', 'c']) t.rows.put(k, 'v');
      t.rows.put('a', 'newer'); // a newer value of a kept row takes no slot
      assert.throws(() => t.rows.put('d', 'v'), (err: any) => err.status === 503 && err.code === 'storage_unavailable' && /--storage-max-pending-writes/.test(err.message));
      assert.equal(t.rows.get('d'), undefined, 'the refused row is not shown either');
      assert.throws(() => t.rows.put('a', 'x'.repeat(2_000)), (err: any) => err.status === 503);
      assert.equal(t.rows.get('a'), 'newer', 'a refused change leaves the kept row as it was');
      assert.equal(t.writer.health().refused_total, 2);
    } finally {
      unlock(t.other);
      t.close();
    }
  });

  it('disk full: writes a user asked for are refused with 507 at once, background writes are kept; both land once there is room', async () => {
    const t = setup();
    try {
      t.db.exec('CREATE TABLE blob (x BLOB)');
      const pages = (t.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      t.db.exec(`PRAGMA max_page_count = ${pages}`);
      assert.equal(t.writer.write({ label: 'a document state', bytes: 100, run: () => void t.db.prepare('INSERT INTO blob VALUES (?)').run(new Uint8Array(64 * 1024)) }), 'queued');
      assert.equal(t.writer.health().problem, 'full');
      assert.throws(
        () => t.rows.put('user', 'asked', { userFacing: true }),
        (err: any) => err.status === 507 && err.code === 'insufficient_storage' && /disk .* is full/.test(err.message) && /Free space/.test(err.message),
      );
      assert.equal(t.rows.get('user'), undefined);
      t.db.exec('PRAGMA max_page_count = 1000000');
      await waitFor(() => t.writer.pending === 0, 'the kept write to land');
      assert.equal((t.db.prepare('SELECT count(*) AS n FROM blob').get() as { n: number }).n, 1);
      assert.equal(t.rows.put('user', 'asked', { userFacing: true }), 'written');
      assert.equal(t.writer.health().state, 'ok');
    } finally {
      t.close();
    }
  });

  it('a kept write that fails for another reason is dropped (logged, counted) and the rest land', async () => {
    const t = setup();
    try {
      const dropped: string[] = [];
      lock(t.other);
      t.rows.put('first', 'kept');
      t.writer.write({ label: 'broken', bytes: 1, run: () => void t.db.exec('INSERT INTO no_such_table VALUES (1)'), dropped: (e) => dropped.push(e.message) });
      t.rows.put('ok', 'fine');
      unlock(t.other);
      await waitFor(() => t.writer.pending === 0, 'the queue to drain');
      assert.equal(dropped.length, 1);
      assert.equal(t.stored('first'), 'kept');
      assert.equal(t.stored('ok'), 'fine');
      assert.equal(t.writer.health().dropped_total, 1);
    } finally {
      t.close();
    }
  });

  it('flush at shutdown: retries until the deadline, names what never landed; or lands it when the lock goes', async () => {
    const t = setup();
    try {
      lock(t.other);
      t.rows.put('late', 'v');
      const t0 = Date.now();
      assert.deepEqual(await t.writer.flush(Date.now() + 300), ['row late']);
      assert.ok(Date.now() - t0 >= 250, 'kept retrying until the deadline');
      setTimeout(() => unlock(t.other), 100);
      assert.deepEqual(await t.writer.flush(Date.now() + 5_000), []);
      assert.equal(t.stored('late'), 'v');
    } finally {
      t.close();
    }
  });

  it('classifies SQLite errors', () => {
    const t = setup();
    try {
      lock(t.other);
      assert.throws(() => t.db.exec("INSERT INTO kv VALUES ('x', 'y')"), (err) => storageProblem(err) === 'locked');
      unlock(t.other);
      assert.throws(() => t.db.exec('INSERT INTO nope VALUES (1)'), (err) => storageProblem(err) === null);
      assert.equal(storageProblem(Object.assign(new Error('x'), { code: 'ENOSPC' })), 'full');
    } finally {
      t.close();
    }
  });
});

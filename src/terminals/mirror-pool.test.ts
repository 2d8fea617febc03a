/**
 * The mirror pool's workers live only while terminals do (issue 12): a worker left without
 * mirrors stops after the idle grace, and the next terminal starts one again. Counted twice: by the
 * pool and by the process's threads (Node names a worker's thread "WorkerThread").
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MirrorPool, type MirrorEvents } from './mirror.ts';
import { waitUntil, workerThreads } from '../../test/threads.ts';

const events: MirrorEvents = { onDrain() {}, onFailed() {}, onDegraded() {} };

describe('terminals: mirror workers start with the first terminal and stop after the last', () => {
  let pool: MirrorPool | undefined;
  afterEach(() => pool?.dispose());

  it('stops the worker after the grace once its last mirror closes, and starts one for the next', async () => {
    const base = workerThreads();
    pool = new MirrorPool(1, { idleStopMs: 100 });
    assert.equal(pool.workers, 0, 'no worker before a terminal');
    const a = pool.open('a', 80, 24, 100, 1 << 20, events);
    const b = pool.open('b', 80, 24, 100, 1 << 20, events);
    a.write(Buffer.from('first\r\n'));
    assert.match(await a.screenText(), /first/);
    assert.equal(pool.workers, 1);
    assert.equal(workerThreads(), base + 1, 'one worker thread while terminals are open');

    a.dispose();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(pool.workers, 1, 'a worker that still hosts a mirror is kept');
    b.dispose();
    await waitUntil(() => pool!.workers === 0, 'the idle worker to stop');
    assert.equal(pool.workersStopped, 1);
    await waitUntil(() => workerThreads() === base, 'the worker thread to exit');

    const c = pool.open('c', 80, 24, 100, 1 << 20, events);
    c.write(Buffer.from('again\r\n'));
    assert.match(await c.screenText(), /again/, 'a new worker serves the next terminal');
    assert.equal(pool.workersStarted, 2);
    assert.equal(workerThreads(), base + 1);
    c.dispose();
  });

  it('a terminal opened within the grace keeps the same worker', async () => {
    pool = new MirrorPool(1, { idleStopMs: 400 });
    pool.open('a', 80, 24, 100, 1 << 20, events).dispose();
    await new Promise((r) => setTimeout(r, 100));
    const b = pool.open('b', 80, 24, 100, 1 << 20, events);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(pool.workers, 1, 'the worker was stopped under a terminal');
    assert.equal(pool.workersStarted, 1);
    assert.equal(pool.workersStopped, 0);
    b.write(Buffer.from('still here\r\n'));
    assert.match(await b.screenText(), /still here/);
    b.dispose();
  });

  it('reports its workers\' heaps as a part of RSS while they run, and nothing once they stop', async () => {
    pool = new MirrorPool(1, { idleStopMs: 50 });
    const a = pool.open('a', 80, 24, 100, 1 << 20, events);
    await a.screenText();
    await pool.refresh();
    assert.ok(pool.read() > 1024 * 1024, `worker heap ${pool.read()} B`);
    a.dispose();
    await waitUntil(() => pool!.workers === 0, 'the idle worker to stop');
    assert.equal(pool.read(), 0);
  });
});

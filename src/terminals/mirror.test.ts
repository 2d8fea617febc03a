/**
 * When the mirror posts held text (mirror.ts): after a quiet moment, after MIRROR_MAX_HOLD_MS of a
 * trickle, and not during a flood. Timers are Node's mock timers, so the test does not depend on
 * the machine's speed; the worker is real.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { MIRROR_FLOOD_BYTES, MIRROR_MAX_HOLD_MS, MIRROR_QUIET_MS, MirrorPool, type Mirror } from './mirror.ts';

describe('terminals: when the mirror posts held text', () => {
  let pool: MirrorPool;
  let mirror: Mirror;
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    pool = new MirrorPool(1);
    mirror = pool.open('t', 80, 24, 100, 4 * 1024 * 1024, { onDrain() {}, onFailed() {}, onDegraded() {} });
  });
  afterEach(() => {
    mirror.dispose();
    pool.dispose();
    mock.timers.reset();
  });

  /** Writes `bytes` of plain lines every tick of `ms` for `total` ms; returns heldBytes after each tick. */
  function drive(bytes: number, ms: number, total: number): number[] {
    const line = Buffer.from('plain output line\r\n');
    const chunk = Buffer.concat(Array.from({ length: Math.ceil(bytes / line.length) }, () => line)).subarray(0, bytes);
    const held: number[] = [];
    for (let t = 0; t < total; t += ms) {
      mirror.write(chunk);
      mock.timers.tick(ms);
      held.push(mirror.heldBytes);
    }
    return held;
  }

  it('a trickle that never goes quiet is posted after the longest hold', () => {
    // 200 bytes every 10 ms: never MIRROR_QUIET_MS of quiet.
    const held = drive(200, 10, 2 * MIRROR_MAX_HOLD_MS + 100);
    const firstPost = held.findIndex((h) => h === 0);
    assert.ok(firstPost >= 0, 'held text was never posted');
    assert.ok((firstPost + 1) * 10 <= MIRROR_MAX_HOLD_MS + MIRROR_QUIET_MS, `posted only after ${(firstPost + 1) * 10} ms`);
    assert.ok((firstPost + 1) * 10 >= MIRROR_MAX_HOLD_MS, `posted after ${(firstPost + 1) * 10} ms, before the longest hold`);
    // And again: one post per hold, not once.
    assert.ok(held.slice(firstPost + 1).some((h) => h === 0), 'posted only once');
  });

  it('a flood keeps holding past the longest hold (within the window), and is posted once quiet', () => {
    // 64 KiB every 10 ms (6.4 MB/s): over MIRROR_FLOOD_BYTES per hold.
    assert.ok((64 * 1024 * MIRROR_MAX_HOLD_MS) / 10 > MIRROR_FLOOD_BYTES);
    const held = drive(64 * 1024, 10, 3 * MIRROR_MAX_HOLD_MS);
    assert.ok(held.every((h) => h > 0), 'the flood was posted while it went on');
    assert.ok(held.every((h) => h <= 2 * 1024 * 1024), 'held more than half the backlog bound');
    // The quiet timer ticks every MIRROR_QUIET_MS: a whole quiet tick comes within two.
    for (let t = 0; t < 2 * MIRROR_QUIET_MS; t += 10) mock.timers.tick(10);
    assert.equal(mirror.heldBytes, 0, 'not posted once output went quiet');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, systemClock } from './clock.ts';

test('FakeClock moves only when advanced and fires timers in due order', () => {
  const c = new FakeClock(1000);
  const fired: string[] = [];
  c.setTimeout(() => fired.push(`t30@${c.now()}`), 30);
  c.setTimeout(() => fired.push(`t10@${c.now()}`), 10);
  const iv = c.setInterval(() => fired.push(`i25@${c.now()}`), 25);
  assert.equal(c.now(), 1000);
  assert.equal(c.pendingTimers, 3);
  c.advance(60);
  assert.deepEqual(fired, ['t10@1010', 'i25@1025', 't30@1030', 'i25@1050']);
  assert.equal(c.now(), 1060);
  assert.equal(c.pendingTimers, 1, 'one-shot timers are gone');
  iv.dispose();
  assert.equal(c.pendingTimers, 0);
  c.advance(1000);
  assert.equal(fired.length, 4);
});

test('disposing a FakeClock timeout cancels it; a timer may schedule another', () => {
  const c = new FakeClock();
  let n = 0;
  c.setTimeout(() => n++, 10).dispose();
  c.setTimeout(() => c.setTimeout(() => n += 10, 5), 5);
  c.advance(20);
  assert.equal(n, 10);
  assert.equal(c.pendingTimers, 0);
});

test('systemClock timers are unref\'d and cancellable', async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const d = systemClock.setInterval(() => {}, 1000);
  const t = systemClock.setTimeout(() => {}, 1000);
  // Unref'd timers do not count as keeping the loop alive.
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
  d.dispose();
  t.dispose();
  assert.ok(Math.abs(systemClock.now() - Date.now()) < 1000);
});

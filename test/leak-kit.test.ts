/** The leak-test kit catches each kind of leak it claims to, and passes a clean scenario. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertLeakBounds, formatLeakReport, runLeakScenario, type LeakBounds } from './leak-kit.ts';

const scenario = new URL('./scenarios/leaky.ts', import.meta.url);
const run = (leak: string, cycles = 1000) => runLeakScenario({ scenario, cycles, warmup: 20, params: { leak }, exitTimeoutMs: 3_000 });

test('a clean scenario passes with exact bounds', async () => {
  const r = await run('none');
  assertLeakBounds(r, { heapBytes: 256 * 1024 });
  assert.equal(r.exitedOnItsOwn, true);
});

const cases: [string, RegExp, LeakBounds?][] = [
  ['heap', /heap grew by/],
  ['fd', /open fds grew by 1000/],
  ['handle', /active handles grew by 1000.*did not exit on its own/s],
  ['child', /child processes grew by 3/],
  ['extra', /retained grew by 1000/, { heapBytes: 64 * 1024 * 1024 }],
];
for (const [leak, message, bounds] of cases) {
  test(`a ${leak} leak fails with the numbers`, async () => {
    const r = await run(leak);
    assert.throws(() => assertLeakBounds(r, bounds), (err: Error) => {
      assert.match(err.message, message);
      assert.match(err.message, /before\s+after\s+delta/, 'the message carries the table');
      return true;
    }, formatLeakReport(r));
  });
}

test('a scenario that throws is reported with its message, phase and stack; a missing one is named', async () => {
  await assert.rejects(run('throw'), /failed in the child during measured cycles: Error: cycle 50 broke on purpose\n\s+at /);
  await assert.rejects(runLeakScenario({ scenario: new URL('./scenarios/does-not-exist.ts', import.meta.url), cycles: 1 }), /not found/);
});

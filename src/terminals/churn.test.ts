/**
 * Churn: 500 create/attach/close cycles leave 0 child processes and zombies, fds and handles at
 * baseline and heap within 2 MB of it (leak-test kit, a fresh --expose-gc child). The same for 200
 * terminals torn down mid-flood, with output held for the mirror and gathered for the viewer.
 */
import { test } from 'node:test';
import { assertLeakBounds, formatLeakReport, runLeakScenario } from '../../test/leak-kit.ts';

test('500 terminal create/attach/close cycles leave heap, handles, fds and processes at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./churn-scenario.ts', import.meta.url), cycles: 500, warmup: 100, timeoutMs: 280_000 });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 2 * 1024 * 1024 });
});

test('200 terminals torn down mid-flood leave no held output, no gathered frame, no timer, heap at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./flood-churn-scenario.ts', import.meta.url), cycles: 200, warmup: 50, timeoutMs: 280_000 });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 2 * 1024 * 1024 });
});

/**
 * Issue 4 leak tests for /stream and chat sessions: each scenario runs in its own `--expose-gc` child
 * (see leak-kit.ts); heap within 2 MB of baseline, handles and fds exactly at baseline.
 */
import { test } from 'node:test';
import { assertExactHandles, assertLeakBounds, formatLeakReport, runLeakScenario } from './leak-kit.ts';

const MiB = 1024 * 1024;

test('10,000 /stream connect/disconnect cycles (live, resumed, filtered, with live events) leave heap, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/sse-connect.ts', import.meta.url), cycles: 10_000, warmup: 1_000, concurrency: 4 });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 2 * MiB, heapSecondHalfBytes: 1 * MiB });
  assertExactHandles(report);
});

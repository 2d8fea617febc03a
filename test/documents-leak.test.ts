/**
 * Issue 5 leak test: 2,000 open/edit/lock/close cycles across 200 documents leave heap within
 * 2 MB of baseline and every per-document and per-client structure empty (rooms, connections and
 * their rate-limit buckets, presence, locks, pending stores and unloads), handles and fds at
 * baseline. Runs in its own --expose-gc child (see leak-kit.ts).
 */
import { test } from 'node:test';
import { assertExactHandles, assertLeakBounds, formatLeakReport, runLeakScenario } from './leak-kit.ts';

const MiB = 1024 * 1024;

test('2,000 document open/edit/lock/close cycles across 200 documents leave heap, maps, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/docs-cycles.ts', import.meta.url), cycles: 2000, warmup: 400, params: { documents: 200 } });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 2 * MiB, heapSecondHalfBytes: 1 * MiB });
  assertExactHandles(report);
  for (const [key, value] of Object.entries(report.after.extra)) {
    if (key === 'owner_items') continue;
    if (value !== 0) throw new Error(`${key} is ${value} after the cycles, expected 0\n${formatLeakReport(report)}`);
  }
});

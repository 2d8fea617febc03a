/**
 * Issue 4 leak test for chat sessions: 1,000 sessions created, used (a whole scripted turn, messages,
 * rename, export), half deleted, all evicted from the cache by a fake clock; heap within 2 MB of
 * baseline, handles and fds exactly at baseline, the cache back to empty.
 */
import { test } from 'node:test';
import { assertExactHandles, assertLeakBounds, formatLeakReport, runLeakScenario } from './leak-kit.ts';

const MiB = 1024 * 1024;

test('1,000 chat sessions created, used and evicted (fake clock) leave heap, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/chat-sessions.ts', import.meta.url), cycles: 1_000, warmup: 300 });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 2 * MiB, heapSecondHalfBytes: 1 * MiB });
  assertExactHandles(report);
});

/**
 * Issue 2 leak tests: request/close cycles and refused-over-limit connections leave heap within
 * 1 MiB of baseline and handles/fds exactly at baseline. Each scenario runs in its own
 * `--expose-gc` child (see leak-kit.ts) and prints its numbers.
 */
import { test } from 'node:test';
import { assertExactHandles, assertLeakBounds, formatLeakReport, runLeakScenario } from './leak-kit.ts';

const MiB = 1024 * 1024;
const WARMUP = 1000;

test('5,000 HTTP request/close cycles against /debug/memory leave heap, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/http-requests.ts', import.meta.url), cycles: 5000, warmup: WARMUP, params: { path: '/debug/memory' } });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 1 * MiB, heapSecondHalfBytes: 512 * 1024 });
  assertExactHandles(report);
});

test('2,000 /debug/live upgrades refused over maxLiveViewers leave heap, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/refused-connections.ts', import.meta.url), cycles: 2000, warmup: WARMUP, params: { mode: 'live' } });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 1 * MiB, heapSecondHalfBytes: 512 * 1024 });
  assertExactHandles(report);
});

test('2,000 connections refused over maxHttpConnections leave heap, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/refused-connections.ts', import.meta.url), cycles: 2000, warmup: WARMUP, params: { mode: 'http' } });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 1 * MiB, heapSecondHalfBytes: 512 * 1024 });
  assertExactHandles(report);
});

// Regression: upgrades refused by the Host/Origin/auth guard used to leave a half-open server socket each.
test('2,000 /debug/live upgrades refused by the Origin and auth guards leave heap, handles and fds at baseline', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/refused-connections.ts', import.meta.url), cycles: 2000, warmup: WARMUP, params: { mode: 'guard' } });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 1 * MiB, heapSecondHalfBytes: 512 * 1024 });
  assertExactHandles(report);
});

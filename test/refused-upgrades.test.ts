/**
 * Issue 10, point 2: a WebSocket upgrade answered with anything but a successful handshake must
 * release its maxHttpConnections slot and its socket, whoever answered it (Keel's guards, a route's
 * hook, Fastify's router, Node's parser, `ws`), whether or not the client closes. 5,000 refused
 * upgrades of every kind from raw sockets, in a child process that measures fds and handles.
 */
import { test } from 'node:test';
import { assertExactHandles, assertLeakBounds, formatLeakReport, runLeakScenario } from './leak-kit.ts';

const MiB = 1024 * 1024;

test('5,000 refused WebSocket upgrades of every kind leave connections, fds and handles at baseline, and Keel serves', async (t) => {
  const report = await runLeakScenario({ scenario: new URL('./scenarios/refused-upgrades.ts', import.meta.url), cycles: 5000, warmup: 600 });
  t.diagnostic(formatLeakReport(report));
  assertLeakBounds(report, { heapBytes: 2 * MiB, heapSecondHalfBytes: 1 * MiB });
  assertExactHandles(report);
});

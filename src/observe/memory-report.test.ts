/**
 * /debug/memory `memory.breakdown` (issue 12): where RSS sits. The parts are measured apart (V8's
 * heap spaces, array buffers, worker heaps, the kernel's file-backed pages) and must add up to the
 * RSS the kernel reports, with a real terminal (and so a mirror worker) open; /metrics carries the
 * same parts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { request, startKeel, type TestKeel } from '../../test/helpers.ts';
import { memoryBreakdown } from './memory-report.ts';

const PARTS = ['heap_mb', 'code_mb', 'array_buffers_mb', 'workers_mb', 'binaries_mb', 'other_mb'] as const;

function kernelRssMb(): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
}

describe('observe: RSS broken down', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel({ terminalShell: '/bin/sh' });
    const res = await request(`${k.url}/api/terminals`, {
      method: 'POST',
      headers: { ...k.authHeaders, 'content-type': 'application/json', origin: k.url },
      body: JSON.stringify({ cols: 80, rows: 24 }),
    });
    assert.equal(res.status, 201, res.text);
  });
  after(() => k.close());

  it('the parts are each measured, and add up to the kernel\'s RSS', async () => {
    // The worker answers for its heap once it has started.
    let b = {} as Record<(typeof PARTS)[number] | 'rss_mb', number>;
    for (let i = 0; i < 100 && !(b.workers_mb > 0); i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      const res = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
      assert.equal(res.status, 200);
      b = JSON.parse(res.text).memory.breakdown;
    }
    const kernel = kernelRssMb();
    for (const p of PARTS) assert.ok(typeof b[p] === 'number' && b[p] >= 0, `${p}: ${b[p]}`);
    assert.ok(b.heap_mb > 1, `heap ${b.heap_mb} MB`);
    assert.ok(b.binaries_mb > 5, `binaries ${b.binaries_mb} MB`);
    assert.ok(b.workers_mb > 1, `a terminal is open, so a mirror worker runs: workers ${b.workers_mb} MB`);
    // Not clamped: what was measured apart does not exceed what the kernel counts as private.
    assert.ok(b.other_mb > 0, `other ${b.other_mb} MB`);
    const sum = PARTS.reduce((n, p) => n + b[p], 0);
    assert.ok(Math.abs(sum - b.rss_mb) <= 0.5, `parts add up to ${sum.toFixed(1)} MB, RSS ${b.rss_mb} MB`);
    // Read a moment apart, in a process that is allocating: within 10 %.
    assert.ok(Math.abs(b.rss_mb - kernel) <= kernel * 0.1, `breakdown RSS ${b.rss_mb} MB, kernel ${kernel.toFixed(1)} MB`);
  });

  it('/metrics has keel_memory_bytes for every part, adding up to the RSS', async () => {
    const res = await request(`${k.url}/metrics`, { headers: k.authHeaders });
    assert.equal(res.status, 200);
    const parts = new Map<string, number>();
    for (const m of res.text.matchAll(/^keel_memory_bytes\{part="([a-z_]+)"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) parts.set(m[1]!, Number(m[2]));
    assert.deepEqual([...parts.keys()].sort(), ['array_buffers', 'binaries', 'code', 'heap', 'other', 'workers']);
    const sum = [...parts.values()].reduce((a, b) => a + b, 0) / 1048576;
    const kernel = kernelRssMb();
    assert.ok(Math.abs(sum - kernel) <= kernel * 0.1, `gauges add up to ${sum.toFixed(1)} MB, kernel ${kernel.toFixed(1)} MB`);
  });

  it('memoryBreakdown without /proc parts falls back to process numbers and never goes negative', () => {
    const b = memoryBreakdown({ workers: 1e12 });
    assert.equal(b.other, 0, 'clamped at zero when the parts overshoot');
    assert.ok(b.rss > 0 && b.heap > 0);
  });
});

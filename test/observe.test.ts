/**
 * Issue 2 acceptance, observability: /debug/memory, /metrics (Prometheus text), /debug/pprof/heap
 * (gzipped pprof protobuf), /debug/heapsnapshot, and the health thresholds driven by injected
 * memory readings and a FakeClock (never by really exhausting memory).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { Profile } from 'pprof-format';
import { FakeClock } from '../src/core/clock.ts';
import type { MemoryReading } from '../src/observe/health-monitor.ts';
import { closeWs, openWs, request, startKeel, UpgradeRefused, waitFor, type TestKeel } from './helpers.ts';

const MB = 1024 * 1024;

interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict parser for the Prometheus text exposition format (version 0.0.4): every line is a
 * `# HELP`, a `# TYPE`, a sample or blank, or it throws naming the line.
 */
function parsePrometheus(text: string): { samples: PromSample[]; types: Map<string, string> } {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${name})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`);
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,\s*|$)/gy;
  text.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${name})(?: (.*))?$`).exec(line);
      if (!m) {
        assert.ok(!/^# (HELP|TYPE)/.test(line), `malformed comment, ${where}`);
        return;
      }
      if (m[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3] ?? ''), `unknown type, ${where}`);
        assert.ok(!types.has(m[2]!), `duplicate TYPE, ${where}`);
        types.set(m[2]!, m[3]!);
      }
      return;
    }
    const m = sampleRe.exec(line);
    assert.ok(m, `not a sample, ${where}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      labelRe.lastIndex = 0;
      let consumed = 0;
      for (let l = labelRe.exec(m[2]); l; l = labelRe.exec(m[2])) {
        labels[l[1]!] = l[2]!;
        consumed = labelRe.lastIndex;
      }
      assert.equal(consumed, m[2].length, `malformed labels, ${where}`);
    }
    const raw = m[3]!;
    // As Prometheus reads it (Go's ParseFloat): Inf and NaN in any case. prom-client prints "Nan"
    // for the event-loop lag mean before the first sample.
    const special = /^[+-]?(inf|infinity)$/i.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : undefined;
    const isNan = /^nan$/i.test(raw);
    const value = special ?? (isNan ? NaN : Number(raw));
    assert.ok(isNan || !Number.isNaN(value), `bad value, ${where}`);
    samples.push({ name: m[1]!, labels, value });
  });
  return { samples, types };
}

describe('/debug/memory, /metrics, /debug/pprof/heap, /debug/', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel();
  });
  after(() => k.close());

  test('/debug/memory has the seed-compatible fields, sane', async () => {
    const res = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
    assert.equal(res.status, 200);
    const r = res.json();
    for (const f of ['alloc_mb', 'heap_alloc_mb', 'sys_mb', 'rss_mb', 'external_mb']) {
      assert.equal(typeof r.memory[f], 'number', `memory.${f}`);
      assert.ok(r.memory[f] > 0, `memory.${f} = ${r.memory[f]} > 0`);
    }
    assert.ok(r.memory.rss_mb >= r.memory.heap_alloc_mb, 'RSS includes the heap');
    assert.ok(r.memory.rss_mb < 16 * 1024, `RSS ${r.memory.rss_mb} MB is plausible`);
    assert.equal(r.memory.alloc_mb, r.memory.heap_alloc_mb);
    assert.equal(r.memory.sys_mb, r.memory.rss_mb);
    // Connections: every kind with its max, counts within limits. Our own request holds one HTTP slot.
    assert.equal(r.connections.max_http_connections, 256);
    assert.ok(r.connections.http_connections >= 1 && r.connections.http_connections <= 256);
    assert.equal(r.connections.live_viewers, 0);
    assert.equal(r.connections.max_live_viewers, 16);
    for (const [key, v] of Object.entries(r.connections)) assert.equal(typeof v, 'number', `connections.${key}`);
    assert.ok(Number.isInteger(r.handles) && r.handles > 0, `handles ${r.handles}`);
    assert.equal(typeof r.event_loop.lag_p99_ms, 'number');
    assert.ok(r.budget.worst_case_mb > 0);
    const parts = Object.values(r.budget.by_subsystem as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(parts - r.budget.worst_case_mb) < 1, `budget parts ${parts} sum to worst case ${r.budget.worst_case_mb}`);
    assert.ok(r.budget.by_subsystem.http > 0 && r.budget.by_subsystem.live > 0);
    assert.equal(typeof r.subsystems, 'object');
    assert.equal(typeof r.audit.total, 'number');
    assert.ok(Array.isArray(r.audit.recent));
    assert.equal(r.health.state, 'ok');
    assert.equal(r.health.shedding, false);
  });

  test('/metrics parses as Prometheus text and has the heap metric and Keel gauges', async () => {
    const res = await request(`${k.url}/metrics`, { headers: k.authHeaders });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const { samples, types } = parsePrometheus(res.text);
    const one = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k2, v]) => s.labels[k2] === v));
    const heap = one('nodejs_heap_size_used_bytes');
    assert.ok(heap, 'nodejs_heap_size_used_bytes present');
    assert.ok(heap.value > MB, `heap used ${heap.value} bytes`);
    assert.equal(types.get('nodejs_heap_size_used_bytes'), 'gauge');
    assert.ok(one('process_resident_memory_bytes')!.value > 0);
    assert.equal(types.get('keel_connections'), 'gauge');
    assert.ok(one('keel_connections', { kind: 'http_connections' })!.value >= 1);
    assert.equal(one('keel_connections', { kind: 'live_viewers' })!.value, 0);
    assert.equal(one('keel_connection_limit', { kind: 'live_viewers' })!.value, 16);
    assert.ok(one('keel_memory_budget_bytes', { subsystem: 'http' })!.value > 0);
    assert.equal(one('keel_shedding_load')!.value, 0);
    assert.equal(one('keel_health_state')!.value, 0);
  });

  test('/metrics needs credentials', async () => {
    assert.equal((await request(`${k.url}/metrics`)).status, 401);
  });

  test('/debug/pprof/heap returns gzip that decodes as a pprof Profile with sample types', async () => {
    // The first request starts the profiler (it does not run at rest) and says so.
    const first = await request(`${k.url}/debug/pprof/heap`, { headers: k.authHeaders });
    assert.equal(first.status, 200, first.text.slice(0, 200));
    assert.match(String(first.headers['x-keel-profiler'] ?? ''), /started by this request/);
    // Live allocations made after it started (this process is the server's) show in the next one.
    const kept = Array.from({ length: 4_000 }, (_, i) => ({ i, pad: 'x'.repeat(2_000 + i) }));
    const res = await request(`${k.url}/debug/pprof/heap`, { headers: k.authHeaders });
    assert.ok(kept.length);
    assert.equal(res.headers['x-keel-profiler'], undefined, 'started once');
    assert.equal(res.status, 200, res.text.slice(0, 200));
    assert.equal(res.body[0], 0x1f, 'gzip magic');
    assert.equal(res.body[1], 0x8b, 'gzip magic');
    const profile = Profile.decode(zlib.gunzipSync(res.body));
    const strings = profile.stringTable.strings;
    const sampleTypes = profile.sampleType.map((t) => `${strings[Number(t.type)]}/${strings[Number(t.unit)]}`);
    assert.ok(sampleTypes.length >= 1, 'has sample types');
    assert.ok(sampleTypes.some((t) => /space\/bytes|inuse_space\/bytes/.test(t)), `heap sample types: ${sampleTypes.join(', ')}`);
    assert.ok(profile.sample.length > 0, 'has samples');
    assert.ok(profile.function.length > 0 && profile.location.length > 0, 'has stacks');
  });

  test('/debug/ is an HTML index of the debug endpoints', async () => {
    const res = await request(`${k.url}/debug/`, { headers: k.authHeaders });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/html/);
    for (const p of ['/debug/memory', '/debug/pprof/heap', '/debug/heapsnapshot', '/metrics', '/healthz', '/readyz']) assert.ok(res.text.includes(p), p);
  });

  test('/debug/health/history is bounded by its capacity', async () => {
    k.keel.ctx.health.sample();
    const res = await request(`${k.url}/debug/health/history`, { headers: k.authHeaders });
    const h = res.json();
    assert.equal(h.capacity, 720);
    assert.ok(h.samples.length >= 1 && h.samples.length <= h.capacity);
  });
});

describe('/debug/heapsnapshot', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel({ maxHeapSnapshots: 2 });
  });
  after(() => k.close());

  test('refuses without credentials', async () => {
    const res = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST' });
    assert.equal(res.status, 401);
  });

  test('writes a snapshot (201 with a file) and keeps at most maxHeapSnapshots, deleting the oldest', async () => {
    const dir = path.join(k.dataDir, 'heapsnapshots');
    const written: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST', headers: k.authHeaders, timeoutMs: 60_000 });
      assert.equal(res.status, 201, res.text);
      const body = res.json();
      assert.ok(fs.existsSync(body.path), `${body.path} exists`);
      assert.equal(path.dirname(body.path), dir);
      assert.ok(body.bytes > 1000 && fs.statSync(body.path).size === body.bytes);
      written.push(body.path);
    }
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
    assert.equal(files.length, 2, `kept ${files.join(', ')}`);
    assert.ok(!fs.existsSync(written[0]!), 'the oldest snapshot was deleted');
    assert.ok(fs.existsSync(written[2]!), 'the newest is kept');
    const mem = (await request(`${k.url}/debug/memory`, { headers: k.authHeaders })).json();
    assert.ok(mem.audit.recent.some((e: { kind: string; subsystem: string }) => e.kind === 'delete' && e.subsystem === 'debug'), 'the deletion is audited');
  });

  test('refuses a non-owner principal with 403 owner_only', async () => {
    // Share links (read-only viewers) come with terminals; a test subsystem stands in for them.
    const viewer = await startKeel({}, {
      subsystems: [
        (app) => {
          app.addHook('preHandler', async (req) => {
            if (req.headers['x-test-viewer']) req.principal = { role: 'viewer', scope: 'terminal:t1' };
          });
        },
      ],
    });
    try {
      const res = await request(`${viewer.url}/debug/heapsnapshot`, { method: 'POST', headers: { ...viewer.authHeaders, 'x-test-viewer': '1' } });
      assert.equal(res.status, 403);
      assert.equal(res.json().error, 'owner_only');
    } finally {
      await viewer.close();
    }
  });

  test('is off with maxHeapSnapshots 0', async () => {
    const off = await startKeel({ maxHeapSnapshots: 0 });
    try {
      const res = await request(`${off.url}/debug/heapsnapshot`, { method: 'POST', headers: off.authHeaders });
      assert.equal(res.status, 404);
      assert.equal(res.json().error, 'heapsnapshot_disabled');
    } finally {
      await off.close();
    }
  });
});

describe('health thresholds (injected readings, FakeClock)', () => {
  let k: TestKeel;
  const clock = new FakeClock();
  const reading: MemoryReading = { rss: 100 * MB, heapUsed: 40 * MB, heapTotal: 60 * MB, external: 2 * MB, arrayBuffers: 1 * MB };
  const trims: string[] = [];

  before(async () => {
    k = await startKeel({ memoryWarnMb: 200, memoryCriticalMb: 400, trimCooldownMs: 60_000 }, { clock, readMemory: () => ({ ...reading }) });
    k.keel.ctx.owner.add(
      k.keel.ctx.health.registerTrim('test-cache', (state) => {
        trims.push(state);
        return `dropped 3 cache entries (${state})`;
      }),
    );
  });
  after(() => k.close());

  const memory = async () => (await request(`${k.url}/debug/memory`, { headers: k.authHeaders })).json();

  test('under the warning line: ok, no trim, ready', async () => {
    k.keel.ctx.health.sample();
    assert.equal(k.keel.ctx.health.state, 'ok');
    assert.deepEqual(trims, []);
    assert.equal((await request(`${k.url}/readyz`)).status, 200);
    const m = await memory();
    assert.equal(m.memory.rss_mb, 100, 'the injected reading is what /debug/memory shows');
  });

  test('past the warning line: trim hooks run once per cooldown and are audited; still ready', async () => {
    reading.rss = 250 * MB;
    k.keel.ctx.health.sample();
    assert.equal(k.keel.ctx.health.state, 'warning');
    assert.deepEqual(trims, ['warning']);
    k.keel.ctx.health.sample();
    assert.deepEqual(trims, ['warning'], 'no second trim within the cooldown');
    clock.advance(60_000);
    k.keel.ctx.health.sample();
    assert.equal(trims.length >= 2, true, 'trims again after the cooldown');
    const m = await memory();
    assert.equal(m.health.state, 'warning');
    assert.ok(m.health.trim_runs >= 2);
    assert.ok(m.audit.recent.some((e: { subsystem: string; kind: string; detail: string }) => e.subsystem === 'test-cache' && e.kind === 'trim' && e.detail.includes('dropped 3')));
    assert.equal((await request(`${k.url}/readyz`)).status, 200);
    const ws = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
    await closeWs(ws);
  });

  test('past the critical line: /readyz 503 and new /debug/live connections refused with 503 overloaded', async () => {
    reading.rss = 450 * MB;
    k.keel.ctx.health.sample();
    assert.equal(k.keel.ctx.health.state, 'critical');
    assert.equal(k.keel.ctx.health.shedding, true);
    const ready = await request(`${k.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.json().error, 'overloaded');
    await assert.rejects(openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders }), (err: unknown) => {
      assert.ok(err instanceof UpgradeRefused, String(err));
      assert.equal(err.status, 503);
      assert.equal(err.json().error, 'overloaded');
      assert.match(err.json().message, /critical threshold of 400 MB/);
      return true;
    });
    const m = await memory();
    assert.equal(m.health.shedding, true);
    assert.ok(m.audit.recent.some((e: { kind: string }) => e.kind === 'shed'));
    const metrics = (await request(`${k.url}/metrics`, { headers: k.authHeaders })).text;
    assert.match(metrics, /^keel_shedding_load 1$/m);
    assert.match(metrics, /^keel_health_state 2$/m);
  });

  test('between the lines it keeps shedding; under the warning line it recovers', async () => {
    reading.rss = 300 * MB;
    k.keel.ctx.health.sample();
    assert.equal(k.keel.ctx.health.shedding, true, 'no recovery above the warning line');
    assert.equal((await request(`${k.url}/readyz`)).status, 503);

    reading.rss = 150 * MB;
    k.keel.ctx.health.sample();
    assert.equal(k.keel.ctx.health.shedding, false);
    assert.equal(k.keel.ctx.health.state, 'ok');
    assert.equal((await request(`${k.url}/readyz`)).status, 200);
    const ws = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
    await closeWs(ws);
    const m = await memory();
    assert.ok(m.audit.recent.some((e: { kind: string }) => e.kind === 'recover'));
  });

  test('the sampler runs on the injected clock', async () => {
    const n = k.keel.ctx.health.history().length;
    clock.advance(k.keel.ctx.options.healthSampleMs * 3);
    await waitFor(() => k.keel.ctx.health.history().length >= n + 3, 'three more samples');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { FakeClock } from '../core/clock.ts';
import { OverloadedError } from '../core/errors.ts';
import { AuditLog } from './audit-log.ts';
import { HealthMonitor, type MemoryReading } from './health-monitor.ts';

const MB = 1024 * 1024;

function make(over: Partial<ConstructorParameters<typeof HealthMonitor>[0]> = {}) {
  const clock = new FakeClock();
  const audit = new AuditLog(10, clock);
  const reading: MemoryReading = { rss: 100 * MB, heapUsed: 50 * MB, heapTotal: 80 * MB, external: 1 * MB, arrayBuffers: 0 };
  const h = new HealthMonitor({
    sampleMs: 1000,
    historySamples: 5,
    logMs: 60_000,
    warnMb: 200,
    criticalMb: 300,
    trimCooldownMs: 10_000,
    clock,
    readMemory: () => reading,
    log: pino({ level: 'silent' }),
    audit,
    ...over,
  });
  return { clock, audit, reading, h };
}

test('samples on the clock into a bounded history', () => {
  const { clock, h } = make();
  clock.advance(12_000);
  const hist = h.history();
  assert.equal(hist.length, 5, 'bounded by historySamples');
  assert.equal(hist.at(-1)!.t, clock.now());
  assert.equal(hist.at(-1)!.rss_mb, 100);
  assert.equal(hist.at(-1)!.state, 'ok');
  h.dispose();
});

test('warning runs trim hooks (audited), at most once per cooldown; a failing hook does not stop others', () => {
  const { clock, audit, reading, h } = make();
  const ran: string[] = [];
  h.registerTrim('bad', () => {
    throw new Error('nope');
  });
  const reg = h.registerTrim('cache', (s) => {
    ran.push(s);
    return 'freed 1 MB';
  });
  reading.rss = 250 * MB;
  h.sample();
  assert.equal(h.state, 'warning');
  assert.equal(h.shedding, false);
  assert.deepEqual(ran, ['warning']);
  h.sample();
  assert.deepEqual(ran, ['warning']);
  clock.advance(10_000);
  assert.ok(ran.length >= 2);
  assert.ok(audit.entries().some((e) => e.subsystem === 'cache' && e.kind === 'trim' && e.detail === 'freed 1 MB'));
  assert.equal(h.trimRuns, ran.length);
  reg.dispose();
  h.runTrims('warning');
  assert.equal(ran.length, h.trimRuns - 1, 'an unregistered hook no longer runs');
  h.dispose();
});

test('critical sheds load until under the warning line, with audit entries', () => {
  const { audit, reading, h } = make();
  h.assertAdmitting();
  reading.rss = 350 * MB;
  h.sample();
  assert.equal(h.state, 'critical');
  assert.equal(h.shedding, true);
  assert.throws(() => h.assertAdmitting(), (err: unknown) => err instanceof OverloadedError && err.status === 503 && err.code === 'overloaded' && err.closeCode === 1013);
  reading.rss = 250 * MB;
  h.sample();
  assert.equal(h.shedding, true, 'between the lines: still shedding');
  reading.rss = 150 * MB;
  h.sample();
  assert.equal(h.shedding, false);
  h.assertAdmitting();
  const kinds = audit.entries().map((e) => e.kind);
  assert.ok(kinds.includes('shed') && kinds.includes('recover'));
  h.dispose();
});

test('dispose cancels every timer', () => {
  const { clock, h } = make();
  assert.equal(clock.pendingTimers, 2, 'sampler and summary logger');
  h.dispose();
  assert.equal(clock.pendingTimers, 0);
  const noLog = make({ logMs: 0 });
  assert.equal(noLog.clock.pendingTimers, 1);
  noLog.h.dispose();
});

test('AuditLog is bounded and counts every record', () => {
  const clock = new FakeClock(0);
  const a = new AuditLog(3, clock);
  for (let i = 0; i < 5; i++) a.record('s', 'trim', `n${i}`);
  assert.equal(a.total, 5);
  assert.deepEqual(a.entries().map((e) => e.detail), ['n2', 'n3', 'n4']);
  assert.equal(a.entries()[0]!.at, new Date(0).toISOString());
  a.record('s', 'trim', 'x'.repeat(2000));
  assert.equal(a.entries().at(-1)!.detail.length, 500, 'details are capped');
});

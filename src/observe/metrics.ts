/** /metrics: Prometheus text with Node's default metrics and Keel's own gauges, read at scrape time. */
import client from 'prom-client';
import type { KeelContext } from '../context.ts';
import { memoryBreakdown } from './memory-report.ts';
import { storageOfContext } from '../store/db.ts';

export function createMetrics(ctx: KeelContext): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: '' });

  new client.Gauge({
    name: 'keel_connections',
    help: 'Open connections by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const c of ctx.observe.connections()) this.set({ kind: c.name }, c.count());
    },
  });
  new client.Gauge({
    name: 'keel_connection_limit',
    help: 'Connection limit by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const c of ctx.observe.connections()) this.set({ kind: c.name }, c.max);
    },
  });
  new client.Gauge({
    name: 'keel_memory_budget_bytes',
    help: 'Worst-case memory by subsystem, computed from the limits',
    labelNames: ['subsystem'],
    registers: [registry],
    collect() {
      for (const [name, b] of Object.entries(ctx.observe.budgets())) this.set({ subsystem: name }, b.bytes);
    },
  });
  new client.Gauge({
    name: 'keel_subsystem',
    help: 'Numeric stats each subsystem reports (see /debug/memory subsystems)',
    labelNames: ['subsystem', 'stat'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, stats] of Object.entries(ctx.observe.subsystems())) {
        for (const [stat, v] of Object.entries(stats)) if (typeof v === 'number') this.set({ subsystem: name, stat }, v);
      }
    },
  });
  new client.Gauge({
    name: 'keel_memory_bytes',
    help: 'Where RSS sits (parts add up to RSS; see /debug/memory memory.breakdown): heap, code, array_buffers, workers, binaries, other',
    labelNames: ['part'],
    registers: [registry],
    async collect() {
      await ctx.observe.refreshMemoryParts();
      const { rss: _rss, ...parts } = memoryBreakdown(ctx.observe.memoryParts());
      for (const [part, bytes] of Object.entries(parts)) this.set({ part }, bytes);
    },
  });
  new client.Gauge({
    name: 'keel_health_state',
    help: 'Memory health: 0 ok, 1 warning, 2 critical',
    registers: [registry],
    collect() {
      this.set({ ok: 0, warning: 1, critical: 2 }[ctx.health.state]);
    },
  });
  new client.Gauge({
    name: 'keel_shedding_load',
    help: '1 while new connections are refused for memory',
    registers: [registry],
    collect() {
      this.set(ctx.health.shedding ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'keel_trim_runs',
    help: 'Times the trim hooks have run since start',
    registers: [registry],
    collect() {
      this.set(ctx.health.trimRuns);
    },
  });
  new client.Gauge({
    name: 'keel_cleanups',
    help: 'Cleanup and trim records written to the audit log since start',
    registers: [registry],
    collect() {
      this.set(ctx.audit.total);
    },
  });
  // The relay has no database: no storage gauges there.
  const storage = storageOfContext(ctx);
  if (storage) {
    new client.Gauge({
      name: 'keel_storage_degraded',
      help: '1 while keel.db cannot take writes (locked by another process, disk full, I/O errors) and they are kept in memory',
      labelNames: ['problem'],
      registers: [registry],
      collect() {
        this.reset();
        const h = storage.health();
        this.set({ problem: h.problem ?? 'none' }, h.state === 'ok' ? 0 : 1);
      },
    });
    new client.Gauge({
      name: 'keel_storage_pending_writes',
      help: 'Writes kept in memory until keel.db takes them',
      registers: [registry],
      collect() {
        this.set(storage.health().pending_writes);
      },
    });
    new client.Gauge({
      name: 'keel_storage_pending_bytes',
      help: 'Bytes of writes kept in memory until keel.db takes them',
      registers: [registry],
      collect() {
        this.set(storage.health().pending_bytes);
      },
    });
  }
  return registry;
}

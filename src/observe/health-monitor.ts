/**
 * Samples memory on an interval, keeps a bounded history for the dashboard, and governs:
 * past the warning threshold it runs the registered trim hooks; past the critical one it sheds load
 * (`/readyz` 503, new connections refused) until RSS is back under the warning line.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.ts';
import { OverloadedError } from '../core/errors.ts';
import { DisposableBase, toDisposable, type Disposable } from '../core/lifecycle.ts';
import { RingBuffer } from '../core/ring-buffer.ts';
import type { AuditLog } from './audit-log.ts';
import type { KeelOptions } from '../config/options.ts';

export type HealthState = 'ok' | 'warning' | 'critical';

export interface MemoryReading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface HealthSample {
  t: number;
  rss_mb: number;
  heap_mb: number;
  external_mb: number;
  lag_ms: number;
  connections: number;
  state: HealthState;
}

/** A trim hook frees what can be rebuilt (inactive scrollback, caches) and says what it did. */
export type TrimHook = (reason: HealthState) => string | void;

export interface HealthMonitorOptions {
  sampleMs: number;
  historySamples: number;
  logMs: number;
  warnMb: number;
  criticalMb: number;
  trimCooldownMs: number;
  clock?: Clock;
  /** Injected in tests to drive thresholds without exhausting memory. */
  readMemory?: () => MemoryReading;
  /** Total live connections, for the history. */
  connectionCount?: () => number;
  log: Logger;
  audit: AuditLog;
}

const MB = 1024 * 1024;
const round = (n: number) => Math.round(n * 10) / 10;

/** The monitor's thresholds and cadence from Keel's options (the same for `keel` and `keel relay`). */
export function healthMonitorSettings(o: Pick<KeelOptions, 'healthSampleMs' | 'healthHistorySamples' | 'healthLogMs' | 'memoryWarnMb' | 'memoryCriticalMb' | 'trimCooldownMs'>) {
  return { sampleMs: o.healthSampleMs, historySamples: o.healthHistorySamples, logMs: o.healthLogMs, warnMb: o.memoryWarnMb, criticalMb: o.memoryCriticalMb, trimCooldownMs: o.trimCooldownMs };
}

export class HealthMonitor extends DisposableBase {
  readonly #o: HealthMonitorOptions;
  readonly #clock: Clock;
  readonly #history: RingBuffer<HealthSample>;
  readonly #trims = new Map<string, TrimHook>();
  readonly #lag: ReturnType<typeof monitorEventLoopDelay>;
  #state: HealthState = 'ok';
  #shedding = false;
  #lastTrimAt = -Infinity;
  #last: MemoryReading | undefined;
  #lastLagMs = 0;
  #trimRuns = 0;

  constructor(o: HealthMonitorOptions) {
    super();
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#history = new RingBuffer(o.historySamples);
    this.#lag = monitorEventLoopDelay({ resolution: 20 });
    this.#lag.enable();
    this.register(toDisposable(() => this.#lag.disable()));
    this.register(this.#clock.setInterval(() => this.sample(), o.sampleMs));
    if (o.logMs > 0) this.register(this.#clock.setInterval(() => this.logSummary(), o.logMs));
  }

  get state(): HealthState {
    return this.#state;
  }
  get shedding(): boolean {
    return this.#shedding;
  }
  get trimRuns(): number {
    return this.#trimRuns;
  }
  get thresholds() {
    return { warn_mb: this.#o.warnMb, critical_mb: this.#o.criticalMb };
  }
  get lastLagMs(): number {
    return this.#lastLagMs;
  }

  history(): HealthSample[] {
    return this.#history.toArray();
  }

  /** Throws OverloadedError while shedding load; called before any new connection is admitted. */
  assertAdmitting(): void {
    if (this.#shedding) throw new OverloadedError((this.#last?.rss ?? 0) / MB, this.#o.criticalMb);
  }

  registerTrim(name: string, hook: TrimHook): Disposable {
    this.#trims.set(name, hook);
    return toDisposable(() => this.#trims.delete(name));
  }

  readMemory(): MemoryReading {
    return this.#o.readMemory ? this.#o.readMemory() : process.memoryUsage();
  }

  /** Takes one sample and applies the thresholds. Called by the interval; callable from tests. */
  sample(): HealthSample {
    const m = this.readMemory();
    this.#last = m;
    const lagMs = this.#lag.count > 0 ? this.#lag.percentile(99) / 1e6 : 0;
    this.#lag.reset();
    this.#lastLagMs = round(lagMs);
    const rssMb = m.rss / MB;
    const prev = this.#state;
    const next: HealthState = rssMb >= this.#o.criticalMb ? 'critical' : rssMb >= this.#o.warnMb ? 'warning' : 'ok';
    this.#state = next;

    if (next === 'critical' && !this.#shedding) {
      this.#shedding = true;
      this.#o.log.error({ rss_mb: round(rssMb), critical_mb: this.#o.criticalMb }, 'memory critical: shedding load (readyz 503, new connections refused)');
      this.#o.audit.record('health', 'shed', `RSS ${round(rssMb)} MB ≥ critical ${this.#o.criticalMb} MB: new connections refused`);
    } else if (this.#shedding && next === 'ok') {
      this.#shedding = false;
      this.#o.log.warn({ rss_mb: round(rssMb) }, 'memory recovered: accepting connections again');
      this.#o.audit.record('health', 'recover', `RSS ${round(rssMb)} MB < warning ${this.#o.warnMb} MB: accepting connections`);
    }
    if (next !== 'ok') {
      if (prev === 'ok') this.#o.log.warn({ rss_mb: round(rssMb), warn_mb: this.#o.warnMb }, 'memory above warning threshold: trimming');
      if (this.#clock.now() - this.#lastTrimAt >= this.#o.trimCooldownMs) this.runTrims(next);
    }

    const s: HealthSample = {
      t: this.#clock.now(),
      rss_mb: round(rssMb),
      heap_mb: round(m.heapUsed / MB),
      external_mb: round(m.external / MB),
      lag_ms: this.#lastLagMs,
      connections: this.#o.connectionCount?.() ?? 0,
      state: next,
    };
    this.#history.push(s);
    return s;
  }

  /** Runs every trim hook once; a failing hook is logged and does not stop the others. */
  runTrims(reason: HealthState): void {
    this.#lastTrimAt = this.#clock.now();
    this.#trimRuns++;
    for (const [name, hook] of this.#trims) {
      try {
        const detail = hook(reason);
        this.#o.audit.record(name, 'trim', detail || `trim on ${reason}`);
      } catch (err) {
        this.#o.log.error({ err, hook: name }, 'trim hook failed');
      }
    }
  }

  logSummary(): void {
    const m = this.readMemory();
    this.#o.log.info(
      { rss_mb: round(m.rss / MB), heap_mb: round(m.heapUsed / MB), external_mb: round(m.external / MB), lag_ms: this.#lastLagMs, connections: this.#o.connectionCount?.() ?? 0, state: this.#state },
      'memory summary',
    );
  }
}

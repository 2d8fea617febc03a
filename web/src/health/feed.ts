/**
 * Keel's health numbers for the page: the history once, then a sample pushed by /debug/live every
 * few seconds. When the live socket is refused (too many dashboards: 503 / close 1013) or drops, it
 * polls /debug/memory instead and tries the socket again later. Everything pauses while the page is
 * hidden, and the client keeps a bounded number of samples.
 */
import { api, wsUrl } from '../api.ts';
import { DisposableStore, Timer, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import type { HealthSample, LiveMessage, MemoryReport } from './types.ts';

/** Samples kept for the plot (at the default 5 s interval: one hour). */
export const MAX_CLIENT_SAMPLES = 720;
/** Polling interval when the live socket is not available. */
export const POLL_MS = 5_000;
/** After falling back to polling, try the live socket again after this long. */
export const LIVE_RETRY_MS = 60_000;
/** The full report (budget, subsystems, cleanups) is refreshed this often while someone watches it. */
export const REPORT_MS = 10_000;

export type FeedMode = 'connecting' | 'live' | 'polling' | 'offline' | 'paused';

export interface FeedSnapshot {
  mode: FeedMode;
  /** Why it is polling, for the user. */
  note?: string;
  report?: MemoryReport;
  samples: readonly HealthSample[];
  updatedAt?: number;
}

export class HealthFeed implements Disposable {
  readonly #store = new DisposableStore();
  readonly #listeners = new Set<(s: FeedSnapshot) => void>();
  readonly #poll = this.#store.add(new Timer());
  readonly #liveRetry = this.#store.add(new Timer());
  readonly #reportTimer = this.#store.add(new Timer());
  #samples: HealthSample[] = [];
  #report: MemoryReport | undefined;
  #mode: FeedMode = 'connecting';
  #note: string | undefined;
  #updatedAt: number | undefined;
  #ws: WebSocket | undefined;
  #started = false;
  #disposed = false;
  /** How many views want the full report refreshed (the Health page). */
  #reportWatchers = 0;

  constructor() {
    this.#store.add(listen(document, 'visibilitychange', () => (document.visibilityState === 'visible' ? this.#resume() : this.#pause())));
    this.#store.add(toDisposable(() => this.#closeSocket()));
  }

  get snapshot(): FeedSnapshot {
    return { mode: this.#mode, note: this.#note, report: this.#report, samples: this.#samples, updatedAt: this.#updatedAt };
  }

  subscribe(fn: (s: FeedSnapshot) => void): Disposable {
    this.#listeners.add(fn);
    fn(this.snapshot);
    return toDisposable(() => this.#listeners.delete(fn));
  }

  /** Keeps the full report fresh while the returned disposable lives. */
  watchReport(): Disposable {
    this.#reportWatchers++;
    void this.#refreshReport();
    return toDisposable(() => {
      this.#reportWatchers--;
      if (this.#reportWatchers === 0) this.#reportTimer.cancel();
    });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#loadHistory();
    void this.#refreshReport();
    this.#openLive();
  }

  #emit(): void {
    const s = this.snapshot;
    for (const fn of this.#listeners) fn(s);
  }

  #setMode(mode: FeedMode, note?: string): void {
    this.#mode = mode;
    this.#note = note;
    this.#emit();
  }

  #push(s: HealthSample): void {
    const last = this.#samples.at(-1);
    if (last && s.t <= last.t) return;
    this.#samples.push(s);
    if (this.#samples.length > MAX_CLIENT_SAMPLES) this.#samples.splice(0, this.#samples.length - MAX_CLIENT_SAMPLES);
  }

  async #loadHistory(): Promise<void> {
    try {
      const { samples } = await api<{ samples: HealthSample[] }>('GET', '/debug/health/history');
      const live = this.#samples;
      this.#samples = [];
      for (const s of [...samples.slice(-MAX_CLIENT_SAMPLES), ...live].sort((a, b) => a.t - b.t)) this.#push(s);
      this.#emit();
    } catch {
      // The plot starts empty and fills from live samples.
    }
  }

  async #refreshReport(): Promise<void> {
    if (document.visibilityState === 'hidden') return;
    try {
      this.#report = await api<MemoryReport>('GET', '/debug/memory');
      if (this.#disposed) return;
      this.#updatedAt = Date.now();
      if (this.#mode === 'offline') this.#setMode(this.#ws ? 'live' : 'polling', this.#note);
      else this.#emit();
    } catch (err) {
      if (this.#disposed) return;
      if (this.#mode !== 'live') this.#setMode('offline', (err as Error).message);
    }
    if (this.#reportWatchers > 0 && !this.#reportTimer.pending) this.#reportTimer.set(() => void this.#refreshReport(), REPORT_MS);
  }

  #openLive(): void {
    if (document.visibilityState === 'hidden') return;
    this.#closeSocket();
    let opened = false;
    const ws = new WebSocket(wsUrl('/debug/live'));
    this.#ws = ws;
    ws.onopen = () => {
      opened = true;
      this.#poll.cancel();
      this.#setMode('live');
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let m: LiveMessage;
      try {
        m = JSON.parse(ev.data) as LiveMessage;
      } catch {
        return; // Not ours: ignore.
      }
      if (m.type !== 'sample') return;
      if (m.sample) this.#push(m.sample);
      // A change of state comes with cleanups worth showing now, not at the next full refresh.
      const changed = this.#report?.health && (this.#report.health.state !== m.health.state || this.#report.health.shedding !== m.health.shedding);
      if (changed && this.#reportWatchers > 0) queueMicrotask(() => void this.#refreshReport());
      this.#report = { ...(this.#report ?? ({} as MemoryReport)), memory: m.memory, connections: m.connections, health: m.health, handles: m.handles, storage: m.storage ?? this.#report?.storage };
      this.#updatedAt = Date.now();
      this.#emit();
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      if (document.visibilityState === 'hidden') return;
      const limited = ev.code === 1013 || (!opened && ev.code === 1006);
      const note = ev.code === 1013 ? `Live feed refused: ${ev.reason || 'too many dashboards open'}. Polling every ${POLL_MS / 1000} s.` : limited ? `Live feed unavailable (limit reached or server unreachable). Polling every ${POLL_MS / 1000} s.` : `Live feed closed${ev.reason ? `: ${ev.reason}` : ''}. Polling every ${POLL_MS / 1000} s.`;
      this.#setMode('polling', note);
      this.#startPolling();
      this.#liveRetry.set(() => this.#openLive(), opened ? POLL_MS : LIVE_RETRY_MS);
    };
    ws.onerror = () => {
      // Followed by close.
    };
  }

  #startPolling(): void {
    const tick = async () => {
      if (this.#ws || document.visibilityState === 'hidden') return;
      try {
        const r = await api<MemoryReport>('GET', '/debug/memory');
        // Disposed while the call was out (signed out: a 401 elsewhere, or Sign out): no next poll.
        if (this.#disposed) return;
        this.#report = r;
        this.#updatedAt = Date.now();
        const conns = Object.entries(r.connections).reduce((n, [k, v]) => (k.startsWith('max_') || k === 'http_connections' ? n : n + v), 0);
        this.#push({ t: Date.now(), rss_mb: r.memory.rss_mb, heap_mb: r.memory.heap_alloc_mb, external_mb: r.memory.external_mb, lag_ms: r.event_loop?.lag_p99_ms ?? 0, connections: conns, state: r.health.state });
        if (this.#mode === 'offline') this.#setMode('polling', this.#note);
        else this.#emit();
      } catch (err) {
        if (this.#disposed) return;
        this.#setMode('offline', (err as Error).message);
      }
      if (!this.#ws) this.#poll.set(() => void tick(), POLL_MS);
    };
    void tick();
  }

  #closeSocket(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) ws.close(1000, 'page hidden');
  }

  #pause(): void {
    this.#closeSocket();
    this.#poll.cancel();
    this.#liveRetry.cancel();
    this.#reportTimer.cancel();
    this.#setMode('paused');
  }

  #resume(): void {
    if (!this.#started || this.#ws) return;
    void this.#loadHistory();
    void this.#refreshReport();
    this.#openLive();
  }

  dispose(): void {
    this.#disposed = true;
    this.#store.dispose();
    this.#listeners.clear();
  }
}

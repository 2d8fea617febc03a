/**
 * The Health page: live numbers (RSS, heap, external, lag, handles), the health state against its
 * thresholds, connections against their limits, the worst-case budget beside use, recent cleanups,
 * per-subsystem stats and a plot of RSS and heap over time.
 */
import { formatAgo, formatMb, h, setText } from '../dom.ts';
import { DisposableStore, interval, type Disposable } from '../lifecycle.ts';
import type { FeedSnapshot, HealthFeed } from './feed.ts';
import { MemoryPlot } from './plot.ts';
import { BREAKDOWN_PARTS, connectionKinds, humanize, type MemoryReport } from './types.ts';

/** Cleanups listed on the page (the server keeps its own bounded number). */
const SHOWN_CLEANUPS = 12;

const MODE_TEXT = { connecting: 'connecting…', live: 'live', polling: 'polling', offline: 'offline', paused: 'paused' } as const;

export class HealthPanel implements Disposable {
  readonly element: HTMLElement;
  readonly #feed: HealthFeed;
  readonly #store = new DisposableStore();
  readonly #visibleStore = new DisposableStore();
  readonly #plot = new MemoryPlot();
  readonly #stateEl = h('div', { class: 'state-big', 'data-testid': 'health-state' }, '–');
  readonly #stateNote = h('div', { class: 'muted small' });
  readonly #storageEl = h('div', { class: 'small storage-state', 'data-testid': 'storage-state' }, '–');
  readonly #modeEl = h('span', { class: 'pill', 'data-testid': 'feed-mode' }, 'connecting…');
  readonly #updatedEl = h('span', { class: 'muted small' });
  readonly #noteEl = h('div', { class: 'feed-note', hidden: true });
  readonly #rss = h('div', { class: 'stat-value', 'data-testid': 'rss' }, '–');
  readonly #heap = h('div', { class: 'stat-value', 'data-testid': 'heap' }, '–');
  readonly #external = h('div', { class: 'stat-value', 'data-testid': 'external' }, '–');
  readonly #lag = h('div', { class: 'stat-value', 'data-testid': 'lag' }, '–');
  readonly #handles = h('div', { class: 'stat-value', 'data-testid': 'handles' }, '–');
  readonly #uptime = h('div', { class: 'stat-value' }, '–');
  readonly #conns = h('div', { class: 'meters', 'data-testid': 'connections' });
  readonly #budget = h('div', { class: 'budget', 'data-testid': 'budget' });
  readonly #breakdown = h('div', { class: 'budget', 'data-testid': 'rss-breakdown' });
  readonly #audit = h('ol', { class: 'audit', 'data-testid': 'cleanups' });
  readonly #auditTotal = h('span', { class: 'muted small' });
  readonly #subsystems = h('div', { class: 'kv', 'data-testid': 'subsystems' });
  #last: FeedSnapshot | undefined;

  constructor(feed: HealthFeed) {
    this.#feed = feed;
    const stat = (label: string, el: HTMLElement, hint?: string) => h('div', { class: 'stat', title: hint }, h('div', { class: 'stat-label' }, label), el);
    this.element = h(
      'div',
      { class: 'health-page', 'data-testid': 'health-panel' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Health'), this.#modeEl, this.#updatedEl),
      this.#noteEl,
      h(
        'div',
        { class: 'cards' },
        h('section', { class: 'card card-state' }, h('h2', {}, 'State'), this.#stateEl, this.#stateNote, this.#storageEl),
        h(
          'section',
          { class: 'card card-stats' },
          h('h2', {}, 'Process'),
          h(
            'div',
            { class: 'stats' },
            stat('RSS', this.#rss, 'Resident set size: memory the OS has given Keel'),
            stat('Heap', this.#heap, 'JavaScript heap in use'),
            stat('External', this.#external, 'Buffers outside the JS heap'),
            stat('Loop lag p99', this.#lag, 'Event-loop delay, 99th percentile over the last sample'),
            stat('Handles', this.#handles, 'Active resources: sockets, timers, PTYs…'),
            stat('Uptime', this.#uptime),
          ),
        ),
        h('section', { class: 'card card-plot wide' }, h('h2', {}, 'Memory over time'), this.#plot.element),
        h('section', { class: 'card' }, h('h2', {}, 'Where RSS sits'), this.#breakdown),
        h('section', { class: 'card' }, h('h2', {}, 'Connections'), this.#conns),
        h('section', { class: 'card' }, h('h2', {}, 'Budget (worst case)'), this.#budget),
        h('section', { class: 'card' }, h('h2', {}, 'Recent cleanups ', this.#auditTotal), this.#audit),
        h('section', { class: 'card' }, h('h2', {}, 'Subsystems'), this.#subsystems),
      ),
    );
    this.#store.add(this.#visibleStore);
    this.#store.add(feed.subscribe((s) => this.#render(s)));
  }

  /** While visible, the full report (budget, cleanups) is refreshed and times tick. */
  setVisible(visible: boolean): void {
    this.element.hidden = !visible;
    this.#visibleStore.clear();
    if (!visible) return;
    this.#visibleStore.add(this.#feed.watchReport());
    this.#visibleStore.add(interval(() => this.#renderTimes(), 1000));
    if (this.#last) this.#render(this.#last);
  }

  #render(s: FeedSnapshot): void {
    this.#last = s;
    if (this.element.hidden) return;
    setText(this.#modeEl, MODE_TEXT[s.mode]);
    this.#modeEl.className = `pill feed-${s.mode}`;
    this.#noteEl.hidden = !s.note || s.mode === 'live';
    setText(this.#noteEl, s.note ?? '');
    this.#renderTimes();
    const r = s.report;
    this.#plot.update(s.samples, r?.health?.warn_mb);
    if (!r?.memory) return;
    setText(this.#rss, formatMb(r.memory.rss_mb));
    setText(this.#heap, formatMb(r.memory.heap_alloc_mb));
    setText(this.#external, formatMb(r.memory.external_mb));
    setText(this.#lag, r.event_loop ? `${r.event_loop.lag_p99_ms.toFixed(1)} ms` : (s.samples.at(-1) ? `${s.samples.at(-1)!.lag_ms.toFixed(1)} ms` : '–'));
    setText(this.#handles, String(r.handles));
    if (r.uptime_s !== undefined) setText(this.#uptime, formatUptime(r.uptime_s));
    this.#renderState(r);
    this.#renderConnections(r);
    this.#renderBreakdown(r);
    this.#renderBudget(r);
    this.#renderAudit(r);
    this.#renderSubsystems(r);
  }

  #renderTimes(): void {
    const at = this.#last?.updatedAt;
    setText(this.#updatedEl, at ? `updated ${formatAgo(new Date(at).toISOString())}` : '');
  }

  #renderState(r: MemoryReport): void {
    const { state, shedding, warn_mb, critical_mb } = r.health;
    setText(this.#stateEl, shedding ? 'Critical: shedding load' : state === 'ok' ? 'OK' : state === 'warning' ? 'Warning: trimming' : 'Critical');
    this.#stateEl.className = `state-big state-${state}`;
    this.#stateEl.dataset.state = state;
    setText(this.#stateNote, `RSS ${formatMb(r.memory.rss_mb)} · warning at ${warn_mb} MB · critical at ${critical_mb} MB${r.health.trim_runs ? ` · ${r.health.trim_runs} trim run${r.health.trim_runs === 1 ? '' : 's'}` : ''}`);
    const st = r.storage;
    setText(this.#storageEl, !st ? '' : st.state === 'ok' ? 'Storage: OK' : `Storage degraded (${st.problem ?? 'error'}): ${st.pending_writes} write${st.pending_writes === 1 ? '' : 's'} kept in memory since ${st.since ? new Date(st.since).toLocaleTimeString() : '?'}`);
    this.#storageEl.dataset.state = st?.state ?? '';
    const pct = Math.min(100, (r.memory.rss_mb / critical_mb) * 100);
    let bar = this.#stateEl.parentElement!.querySelector<HTMLElement>('.meter');
    if (!bar) {
      bar = h('div', { class: 'meter meter-state' }, h('div', { class: 'meter-fill' }), h('div', { class: 'meter-mark' }));
      this.#stateEl.parentElement!.append(bar);
    }
    const fill = bar.firstElementChild as HTMLElement;
    fill.style.width = `${pct.toFixed(1)}%`;
    fill.className = `meter-fill fill-${state}`;
    (bar.lastElementChild as HTMLElement).style.left = `${Math.min(100, (warn_mb / critical_mb) * 100).toFixed(1)}%`;
  }

  #renderConnections(r: MemoryReport): void {
    const rows = connectionKinds(r.connections).map(({ kind, count, max }) => {
      const pct = Number.isFinite(max) && max > 0 ? Math.min(100, (count / max) * 100) : 0;
      const level = pct >= 100 ? 'critical' : pct >= 80 ? 'warning' : 'ok';
      return h(
        'div',
        { class: 'meter-row', 'data-kind': kind },
        h('div', { class: 'meter-head' }, h('span', {}, humanize(kind)), h('span', { class: 'num' }, Number.isFinite(max) ? `${count} / ${max}` : String(count))),
        h('div', { class: 'meter' }, h('div', { class: `meter-fill fill-${level}`, style: `width:${pct.toFixed(1)}%` })),
      );
    });
    this.#conns.replaceChildren(...(rows.length ? rows : [h('div', { class: 'muted' }, 'No connection counters.')]));
  }

  #renderBreakdown(r: MemoryReport): void {
    const b = r.memory.breakdown;
    if (!b) return;
    const total = Math.max(1, b.rss_mb);
    this.#breakdown.replaceChildren(
      h('div', { class: 'meter-head' }, h('span', {}, 'RSS'), h('span', { class: 'num' }, formatMb(b.rss_mb))),
      h(
        'div',
        { class: 'budget-list' },
        ...BREAKDOWN_PARTS.map(([key, label, hint]) =>
          h(
            'div',
            { class: 'budget-row', title: hint, 'data-part': key },
            h('span', { class: 'budget-name' }, label),
            h('span', { class: 'budget-bar' }, h('span', { style: `width:${Math.min(100, (b[key] / total) * 100).toFixed(1)}%` })),
            h('span', { class: 'num' }, formatMb(b[key])),
          ),
        ),
      ),
    );
  }

  #renderBudget(r: MemoryReport): void {
    const b = r.budget;
    if (!b) return;
    const entries = Object.entries(b.by_subsystem).sort((a, c) => c[1] - a[1]);
    const max = Math.max(1, ...entries.map((e) => e[1]));
    const use = Math.min(100, (r.memory.rss_mb / b.worst_case_mb) * 100);
    this.#budget.replaceChildren(
      h('div', { class: 'meter-head' }, h('span', {}, 'RSS vs worst case'), h('span', { class: 'num' }, `${formatMb(r.memory.rss_mb)} / ${formatMb(b.worst_case_mb)}`)),
      h('div', { class: 'meter' }, h('div', { class: 'meter-fill fill-ok', style: `width:${use.toFixed(1)}%` })),
      h(
        'div',
        { class: 'budget-list' },
        ...entries.map(([name, mb]) =>
          h(
            'div',
            { class: 'budget-row', title: b.notes?.[name] ?? '' },
            h('span', { class: 'budget-name' }, name),
            h('span', { class: 'budget-bar' }, h('span', { style: `width:${((mb / max) * 100).toFixed(1)}%` })),
            h('span', { class: 'num' }, formatMb(mb)),
          ),
        ),
      ),
    );
  }

  #renderAudit(r: MemoryReport): void {
    const a = r.audit;
    if (!a) return;
    setText(this.#auditTotal, `(${a.total} total)`);
    const recent = a.recent.slice(-SHOWN_CLEANUPS).reverse();
    this.#audit.replaceChildren(
      ...(recent.length
        ? recent.map((e) =>
            h('li', {}, h('span', { class: `tag tag-${e.kind}` }, e.kind), h('span', { class: 'audit-sub' }, e.subsystem), h('span', { class: 'audit-detail' }, e.detail), h('time', { class: 'muted small', datetime: e.at, title: e.at }, formatAgo(e.at))),
          )
        : [h('li', { class: 'muted' }, 'Nothing cleaned up yet.')]),
    );
  }

  #renderSubsystems(r: MemoryReport): void {
    const subs = Object.entries(r.subsystems ?? {});
    if (!subs.length) {
      this.#subsystems.replaceChildren(h('div', { class: 'muted' }, 'No subsystem stats yet.'));
      return;
    }
    this.#subsystems.replaceChildren(
      ...subs.map(([name, stats]) =>
        h('div', { class: 'kv-group' }, h('div', { class: 'kv-title' }, name), ...Object.entries(stats).map(([k, v]) => h('div', { class: 'kv-row' }, h('span', {}, humanize(k)), h('span', { class: 'num' }, formatStat(k, v))))),
      ),
    );
  }

  dispose(): void {
    this.#store.dispose();
    this.element.remove();
  }
}

function formatUptime(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

function formatStat(key: string, v: number | string | boolean): string {
  if (typeof v === 'number' && /bytes$/.test(key)) {
    if (v >= 1024 * 1024) return `${(v / 1048576).toFixed(1)} MiB`;
    if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
    return `${v} B`;
  }
  return String(v);
}

/**
 * A small inline-SVG plot of RSS and heap over time. Pure geometry (`plotGeometry`) is separate from
 * the DOM so it can be tested under Node.
 */
import { svg } from '../dom.ts';
import type { HealthSample } from './types.ts';

export interface Series {
  key: 'rss_mb' | 'heap_mb' | 'external_mb';
  label: string;
  className: string;
}

export const SERIES: Series[] = [
  { key: 'rss_mb', label: 'RSS', className: 'series-rss' },
  { key: 'heap_mb', label: 'Heap', className: 'series-heap' },
];

export interface PlotGeometry {
  /** Polyline `points` per series, in a width × height box. */
  lines: Record<string, string>;
  yMax: number;
  t0: number;
  t1: number;
  /** Y of the warning line, when it is within the plot. */
  warnY?: number;
}

/** A "nice" axis maximum: 1, 2, 2.5 or 5 × 10^n above the value. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function plotGeometry(samples: readonly HealthSample[], width: number, height: number, warnMb?: number): PlotGeometry {
  const t0 = samples[0]?.t ?? 0;
  const t1 = samples.at(-1)?.t ?? 1;
  let max = 0;
  for (const s of samples) for (const se of SERIES) max = Math.max(max, s[se.key]);
  // Show the warning line when use is within reach of it (at least a third of the way).
  const showWarn = warnMb !== undefined && warnMb > 0 && max >= warnMb / 3;
  const yMax = niceMax(Math.max(max * 1.15, showWarn ? warnMb * 1.05 : 0));
  const span = Math.max(1, t1 - t0);
  const x = (t: number) => (samples.length <= 1 ? width : ((t - t0) / span) * width);
  const y = (v: number) => height - (v / yMax) * height;
  const lines: Record<string, string> = {};
  for (const se of SERIES) lines[se.key] = samples.map((s) => `${x(s.t).toFixed(1)},${y(s[se.key]).toFixed(1)}`).join(' ');
  return { lines, yMax, t0, t1, warnY: showWarn ? y(warnMb) : undefined };
}

const W = 600;
const H = 160;

export class MemoryPlot {
  readonly element: HTMLElement;
  readonly #svg: SVGSVGElement;
  readonly #lines = new Map<string, SVGPolylineElement>();
  readonly #warn: SVGLineElement;
  readonly #yLabel: HTMLElement;
  readonly #xLabel: HTMLElement;
  readonly #empty: HTMLElement;

  constructor() {
    this.#svg = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'plot-svg', role: 'img', 'aria-label': 'RSS and heap over time' });
    for (const f of [0.25, 0.5, 0.75]) this.#svg.append(svg('line', { x1: 0, x2: W, y1: H * f, y2: H * f, class: 'grid' }));
    this.#warn = svg('line', { x1: 0, x2: W, y1: 0, y2: 0, class: 'warn-line' });
    this.#svg.append(this.#warn);
    for (const se of SERIES) {
      const pl = svg('polyline', { class: se.className, fill: 'none', points: '' });
      this.#lines.set(se.key, pl);
      this.#svg.append(pl);
    }
    this.#yLabel = document.createElement('span');
    this.#yLabel.className = 'plot-ymax';
    this.#xLabel = document.createElement('span');
    this.#xLabel.className = 'plot-span';
    this.#empty = document.createElement('span');
    this.#empty.className = 'plot-empty';
    this.#empty.textContent = 'Collecting samples…';
    const legend = document.createElement('div');
    legend.className = 'plot-legend';
    for (const se of SERIES) {
      const item = document.createElement('span');
      item.className = `legend ${se.className}`;
      item.textContent = se.label;
      legend.append(item);
    }
    const warnLegend = document.createElement('span');
    warnLegend.className = 'legend legend-warn';
    warnLegend.textContent = 'warning line';
    legend.append(warnLegend);
    const frame = document.createElement('div');
    frame.className = 'plot-frame';
    frame.append(this.#svg, this.#yLabel, this.#empty);
    this.element = document.createElement('div');
    this.element.className = 'plot';
    this.element.append(frame, legend, this.#xLabel);
  }

  update(samples: readonly HealthSample[], warnMb?: number): void {
    const g = plotGeometry(samples, W, H, warnMb);
    for (const se of SERIES) this.#lines.get(se.key)!.setAttribute('points', g.lines[se.key] ?? '');
    this.#warn.style.display = g.warnY === undefined ? 'none' : '';
    if (g.warnY !== undefined) {
      this.#warn.setAttribute('y1', g.warnY.toFixed(1));
      this.#warn.setAttribute('y2', g.warnY.toFixed(1));
    }
    this.element.classList.toggle('has-warn', g.warnY !== undefined);
    this.#yLabel.textContent = `${g.yMax} MB`;
    this.#empty.hidden = samples.length >= 2;
    const mins = Math.round((g.t1 - g.t0) / 60_000);
    this.#xLabel.textContent = samples.length < 2 ? '' : mins >= 1 ? `last ${mins} min · ${samples.length} samples` : `last ${Math.round((g.t1 - g.t0) / 1000)} s · ${samples.length} samples`;
  }
}

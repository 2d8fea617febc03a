/**
 * Swiping scrolls a terminal on a touch screen. xterm.js 6 has no touch scrolling of its own (its
 * VS Code scrollbar listens to wheels only), so a phone could not read its scrollback at all.
 *
 * A vertical swipe moves the scrollback by the distance the finger travelled (one row per row
 * height, as on-screen, scale included), with momentum after a flick; in the alternate screen
 * (vim, less, htop), which has no scrollback, each row becomes one wheel step for xterm.js to turn
 * into what the program asked for (mouse-wheel reports, or arrow keys). A sideways swipe is left to
 * the browser, so a terminal shown larger than the screen (fit.ts: scaled down to a legible minimum,
 * then panned) still pans natively; a terminal taller than its box pans vertically first and
 * scrolls its scrollback once the pan reaches an edge.
 */
import type { Terminal } from '@xterm/xterm';
import { DisposableStore, listen, toDisposable, type Disposable } from '../lifecycle.ts';

/** A finger moves this far (CSS px) before the gesture picks its axis; less is a tap. */
export const AXIS_SLOP_PX = 8;
/** Momentum: a flick faster than this (px/ms) keeps scrolling after the finger lifts… */
export const MOMENTUM_MIN_SPEED = 0.25;
/** …losing this share of its speed every 16 ms… */
export const MOMENTUM_DECAY = 0.95;
/** …and stops after this long at the latest, so a flick never scrolls on and on. */
export const MOMENTUM_MAX_MS = 2_500;
/** Speed is measured over the last moves of this span. */
const VELOCITY_WINDOW_MS = 100;

/** Which way a gesture goes, once the finger has moved past the slop; undefined until then. */
export function lockAxis(dx: number, dy: number, slop = AXIS_SLOP_PX): 'x' | 'y' | undefined {
  if (Math.max(Math.abs(dx), Math.abs(dy)) < slop) return undefined;
  return Math.abs(dy) >= Math.abs(dx) ? 'y' : 'x';
}

/** Whole rows in `px` of travel (towards zero), and the remainder carried to the next move. */
export function rowsFor(px: number, rowPx: number): { rows: number; rest: number } {
  if (!(rowPx > 0)) return { rows: 0, rest: 0 };
  const rows = Math.trunc(px / rowPx);
  return { rows, rest: px - rows * rowPx };
}

interface Sample {
  y: number;
  t: number;
}

export class TouchScroll implements Disposable {
  readonly #term: Terminal;
  readonly #host: HTMLElement;
  readonly #store = new DisposableStore();
  #touchId: number | undefined;
  #startX = 0;
  #startY = 0;
  #lastX = 0;
  #lastY = 0;
  #axis: 'x' | 'y' | undefined;
  /** Travel not yet turned into rows (CSS px, positive: towards newer lines). */
  #carry = 0;
  #samples: Sample[] = [];
  #raf = 0;

  /** `host`: the element the terminal sits in, which pans when the terminal is larger than it. */
  constructor(term: Terminal, host: HTMLElement) {
    this.#term = term;
    this.#host = host;
    this.#store.add(listen(host, 'touchstart', (e) => this.#start(e), { passive: true }));
    // Not passive: a vertical swipe is ours and must not also scroll or bounce the page.
    this.#store.add(listen(host, 'touchmove', (e) => this.#move(e), { passive: false }));
    this.#store.add(listen(host, 'touchend', (e) => this.#end(e), { passive: true }));
    this.#store.add(listen(host, 'touchcancel', () => this.#reset(), { passive: true }));
    this.#store.add(toDisposable(() => this.#stopMomentum()));
  }

  #start(e: TouchEvent): void {
    this.#stopMomentum();
    if (e.touches.length !== 1) {
      // A second finger: pinch-zoom is the browser's.
      this.#reset();
      return;
    }
    const t = e.touches[0]!;
    this.#touchId = t.identifier;
    this.#startX = this.#lastX = t.clientX;
    this.#startY = this.#lastY = t.clientY;
    this.#axis = undefined;
    this.#carry = 0;
    this.#samples = [{ y: t.clientY, t: e.timeStamp }];
  }

  #move(e: TouchEvent): void {
    if (this.#touchId === undefined) return;
    const t = [...e.changedTouches].find((c) => c.identifier === this.#touchId);
    if (!t) return;
    this.#axis ??= lockAxis(t.clientX - this.#startX, t.clientY - this.#startY);
    if (this.#axis === 'x') return; // the browser pans the host sideways
    if (this.#axis === undefined) return;
    if (e.cancelable) e.preventDefault();
    const dy = this.#lastY - t.clientY; // finger up: positive, towards newer lines
    this.#lastX = t.clientX;
    this.#lastY = t.clientY;
    this.#samples.push({ y: t.clientY, t: e.timeStamp });
    while (this.#samples.length > 2 && e.timeStamp - this.#samples[0]!.t > VELOCITY_WINDOW_MS) this.#samples.shift();
    this.#scrollBy(dy);
  }

  #end(e: TouchEvent): void {
    if (this.#touchId === undefined || ![...e.changedTouches].some((c) => c.identifier === this.#touchId)) return;
    const axis = this.#axis;
    const s = this.#samples;
    this.#touchId = undefined;
    if (axis !== 'y' || s.length < 2) return;
    const first = s[0]!;
    const last = s[s.length - 1]!;
    const dt = last.t - first.t;
    if (dt <= 0) return;
    const v = (first.y - last.y) / dt; // px/ms, positive towards newer lines
    // Momentum only where rows are scrollback; in vim/less each row would be a key press.
    if (Math.abs(v) >= MOMENTUM_MIN_SPEED && this.#term.buffer.active.type === 'normal') this.#momentum(v);
  }

  #reset(): void {
    this.#touchId = undefined;
    this.#axis = undefined;
    this.#carry = 0;
    this.#samples = [];
  }

  /** Pans a vertically overflowing host first, then scrolls the terminal by whole rows. */
  #scrollBy(dy: number): void {
    const h = this.#host;
    if (h.scrollHeight > h.clientHeight + 1) {
      const before = h.scrollTop;
      h.scrollTop = Math.max(0, Math.min(h.scrollHeight - h.clientHeight, before + dy));
      dy -= h.scrollTop - before;
    }
    const { rows, rest } = rowsFor(this.#carry + dy, this.#rowPx());
    this.#carry = rest;
    if (rows) this.#scrollRows(rows);
  }

  /** A row's height on screen (CSS px, the size policy's scale included). */
  #rowPx(): number {
    const screen = this.#term.element?.querySelector('.xterm-screen');
    const h = screen?.getBoundingClientRect().height ?? 0;
    return h > 0 && this.#term.rows > 0 ? h / this.#term.rows : 0;
  }

  #scrollRows(rows: number): void {
    const term = this.#term;
    if (term.buffer.active.type === 'normal') {
      term.scrollLines(rows);
      return;
    }
    // The alternate screen: one wheel step per row, which xterm.js sends as the program asked
    // (mouse-wheel reports when it tracks the mouse, else cursor keys), like a mouse wheel would.
    const screen = term.element?.querySelector('.xterm-screen');
    if (!screen) return;
    const r = screen.getBoundingClientRect();
    const x = Math.min(r.right - 1, Math.max(r.left + 1, this.#lastX));
    const y = Math.min(r.bottom - 1, Math.max(r.top + 1, this.#lastY));
    for (let i = 0; i < Math.abs(rows); i++) {
      screen.dispatchEvent(new WheelEvent('wheel', { deltaY: Math.sign(rows), deltaMode: WheelEvent.DOM_DELTA_LINE, clientX: x, clientY: y, bubbles: true, cancelable: true }));
    }
  }

  #momentum(v0: number): void {
    let v = v0;
    let last = performance.now();
    const until = last + MOMENTUM_MAX_MS;
    const step = (now: number) => {
      const dt = Math.min(50, now - last);
      last = now;
      this.#scrollBy(v * dt);
      v *= MOMENTUM_DECAY ** (dt / 16);
      const b = this.#term.buffer.active;
      const atEdge = (v < 0 && b.viewportY <= 0) || (v > 0 && b.viewportY >= b.baseY);
      this.#raf = Math.abs(v) < MOMENTUM_MIN_SPEED / 4 || now > until || atEdge ? 0 : requestAnimationFrame(step);
    };
    this.#raf = requestAnimationFrame(step);
  }

  #stopMomentum(): void {
    if (this.#raf) cancelAnimationFrame(this.#raf);
    this.#raf = 0;
  }

  dispose(): void {
    this.#reset();
    this.#store.dispose();
  }
}

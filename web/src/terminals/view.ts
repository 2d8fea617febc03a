/**
 * One terminal on screen: an xterm.js Terminal at the session's shared size, fed by a
 * TerminalConnection. Owners send the size their box fits as a preference; the server applies it
 * while this device controls the size (it typed last, or pressed "Fit here"; docs/protocol.md, Size).
 * The server's `m` frame is the truth, applied in order with the output before it; a terminal larger
 * than the box is scaled down to a legible minimum and panned beyond that (fit.ts).
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal, type ITheme } from '@xterm/xterm';
import { h, setText } from '../dom.ts';
import { DisposableStore, Timer, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import { toast } from '../toast.ts';
import { TerminalConnection, type ConnectionState, type ConnectionStatus } from './connection.ts';
import { fitTerminal } from './fit.ts';
import { describeExit, type ExitInfo, type TerminalMeta } from './protocol.ts';
import { TerminalInput } from './terminal-input.ts';
import { TouchScroll } from './touch-scroll.ts';

/** The browser keeps as much scrollback as the server's mirror (default 2,000 lines): the snapshot brings no more. */
export const SCROLLBACK_LINES = 2_000;
/** CAN: every state of xterm's parser goes to ground on it, aborting an unfinished sequence without acting on it. */
const ABORT_SEQUENCE = new Uint8Array([0x18]);
/** Resizes settle for this long before the size goes to the server (window drags, phone rotation). */
export const RESIZE_DEBOUNCE_MS = 120;
/** Width of xterm's scroll bar beside the screen (what FitAddon leaves for it). */
const SCROLL_BAR_PX = 14;
const NO_BYTES = new Uint8Array(0);

export const THEME: ITheme = {
  background: '#0b0f14',
  foreground: '#d6dde6',
  cursor: '#58a6ff',
  cursorAccent: '#0b0f14',
  selectionBackground: '#264f78',
  black: '#1b2129',
  red: '#f47067',
  green: '#57ab5a',
  yellow: '#c69026',
  blue: '#539bf5',
  magenta: '#b083f0',
  cyan: '#39c5cf',
  white: '#adbac7',
  brightBlack: '#636e7b',
  brightRed: '#ff938a',
  brightGreen: '#6bc46d',
  brightYellow: '#daaa3f',
  brightBlue: '#6cb6ff',
  brightMagenta: '#dcbdfb',
  brightCyan: '#56d4dd',
  brightWhite: '#cdd9e5',
};

export interface ViewOptions {
  id: string;
  /** WebSocket path (with `?share=` for read-only viewers). */
  wsPath: string;
  /** Initial size (from the REST answer) until the first `m` frame. */
  cols: number;
  rows: number;
  /** Applied to typed input before it is sent (the key bar's sticky Ctrl). */
  inputFilter?: (data: string) => string;
  /** Asked after a close without a close frame: is the terminal gone? */
  probe?: ConstructorParameters<typeof TerminalConnection>[1]['probe'];
  onStatus?: (s: ConnectionStatus) => void;
  onMeta?: (m: TerminalMeta) => void;
  onCloseRequest?: () => void;
  /** The "leave the terminal" key (Ctrl+Shift+M, shortcuts.ts): where focus goes. */
  onLeave?: () => void;
}

const STATE_LABEL: Record<ConnectionState, string> = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  limited: 'too many connections',
  exited: 'exited',
  closed: 'closed',
  failed: 'disconnected',
};

export class TerminalView implements Disposable {
  readonly id: string;
  readonly element: HTMLElement;
  readonly term: Terminal;
  readonly #o: ViewOptions;
  readonly #store = new DisposableStore();
  readonly #fit = new FitAddon();
  readonly #conn: TerminalConnection;
  readonly #box: HTMLElement;
  readonly #host: HTMLElement;
  readonly #banner: HTMLElement;
  readonly #stateEl: HTMLElement;
  readonly #roleEl: HTMLElement;
  readonly #sizeEl: HTMLElement;
  readonly #viewersEl: HTMLElement;
  readonly #sizeCtlEl: HTMLElement;
  readonly #sizeCtlText: HTMLElement;
  readonly #fitBtn: HTMLButtonElement;
  readonly #resizeTimer = this.#store.add(new Timer());
  readonly #bannerTimer = this.#store.add(new Timer());
  #meta: TerminalMeta = {};
  #status: ConnectionStatus = { state: 'connecting' };
  #exit: ExitInfo | undefined;
  #visible = false;
  /** The last preferred size sent on this socket ("colsxrows"), so only changes are sent. */
  #sentPref: string | undefined;
  /** The server's size as of the output written so far: `m` frames take effect in order with the writes. */
  #ordered: { cols: number; rows: number } | undefined;

  constructor(o: ViewOptions) {
    this.id = o.id;
    this.#o = o;
    this.#stateEl = h('span', { class: 'pill pill-connecting', 'data-testid': 'conn-state' }, 'connecting');
    this.#roleEl = h('span', { class: 'badge badge-ro', hidden: true, title: 'You can watch this terminal; typing is disabled.' }, 'read-only');
    this.#sizeEl = h('span', { class: 'muted size' });
    this.#viewersEl = h('span', { class: 'muted viewers' });
    this.#sizeCtlText = h('span', {});
    this.#fitBtn = h(
      'button',
      { class: 'btn btn-small fit-here', type: 'button', hidden: true, 'data-testid': 'fit-here', title: "Resize the terminal to this device's screen; other devices then show it scaled." },
      'Fit here',
    );
    this.#fitBtn.addEventListener('click', () => this.fitHere());
    this.#sizeCtlEl = h('span', { class: 'size-ctl', hidden: true, 'data-testid': 'size-control' }, this.#sizeCtlText, this.#fitBtn);
    this.#banner = h('div', { class: 'banner', hidden: true, role: 'status' });
    this.#host = h('div', { class: 'term-host' });
    // The banner floats over the bottom of the terminal instead of taking a row of the layout: a
    // "reconnecting" banner that shrank the box made a reconnecting owner propose a smaller size, and
    // then the full one — two resizes, and every full-screen program redrew (found with vim).
    this.#box = h('div', { class: 'term-box' }, this.#host, this.#banner);
    this.element = h(
      'section',
      { class: 'term-view', 'data-terminal': o.id, hidden: true },
      h('div', { class: 'term-status' }, this.#stateEl, this.#roleEl, h('span', { class: 'spacer' }), this.#sizeCtlEl, this.#viewersEl, this.#sizeEl),
      this.#box,
    );

    this.term = new Terminal({
      cols: o.cols,
      rows: o.rows,
      scrollback: SCROLLBACK_LINES,
      theme: THEME,
      fontFamily: '"JetBrains Mono", "Fira Code", "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace',
      // Phones get a slightly smaller font: about 50 columns on a 390 px screen.
      fontSize: matchMedia('(max-width: 600px)').matches ? 13 : 14,
      lineHeight: 1.1,
      cursorBlink: true,
      allowProposedApi: false,
      // xterm answers device queries from the server side's mirror as well; the browser's answers are what the program sees.
      convertEol: false,
    });
    this.#store.add(this.term);
    this.term.loadAddon(this.#fit);
    this.term.open(this.#host);
    // Clipboard keys, the leave key, read-only feedback (terminal-input.ts); swiping (touch-scroll.ts).
    this.#store.add(new TerminalInput(this.term, { readOnly: () => this.readOnly, onLeave: () => o.onLeave?.(), hintParent: this.#box }));
    this.#store.add(new TouchScroll(this.term, this.#host));

    this.#store.add(
      this.term.onData((data) => {
        if (this.#meta.role === 'read-only') return;
        const filtered = o.inputFilter ? o.inputFilter(data) : data;
        this.#flushPreference();
        if (!this.#conn.sendInput(filtered)) this.#flashBanner('Not connected: your input was not sent.');
      }),
    );
    this.#store.add(this.term.onBinary((data) => {
      // Mouse reports in X10 mode come as binary strings (one byte per char).
      if (this.#meta.role === 'read-only') return;
      const bytes = Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
      this.#flushPreference();
      this.#conn.sendInput(bytes);
    }));

    const ro = new ResizeObserver(() => this.#onBoxResize());
    ro.observe(this.#box);
    this.#store.add(toDisposable(() => ro.disconnect()));
    this.#store.add(listen(this.#box, 'click', () => this.term.focus()));

    this.#conn = this.#store.add(
      new TerminalConnection(o.wsPath, {
        status: (s) => this.#onStatus(s),
        meta: (m) => this.#onMeta(m),
        snapshot: (data, written) => {
          // Reset in order with the writes still queued from before (they belong to the old screen).
          // reset() leaves xterm's parser and UTF-8 decoder as they were: the last frame (of this
          // socket, or of the one that dropped) may have ended inside a sequence, which would eat
          // the snapshot's first bytes. CAN aborts any sequence and any partial character first
          // (the server's snapshot starts with one too; this also covers an older server).
          this.term.write(ABORT_SEQUENCE, () => {
            this.term.reset();
            this.#applyServerSize();
          });
          this.term.write(data, written);
        },
        output: (data, written) => this.term.write(data, written),
        exit: (e) => this.#onExit(e),
        notice: (_code, message) => toast(message, 'info'),
        probe: o.probe,
        opened: () => {
          this.#sentPref = undefined; // the server forgets a viewer's preference with its socket
        },
      }),
    );
  }

  get meta(): TerminalMeta {
    return this.#meta;
  }
  get status(): ConnectionStatus {
    return this.#status;
  }
  get readOnly(): boolean {
    return this.#meta.role === 'read-only';
  }
  get exited(): boolean {
    return this.#exit !== undefined;
  }

  /** Shows or hides this view (only the active tab is visible). */
  setVisible(visible: boolean): void {
    this.#visible = visible;
    this.element.hidden = !visible;
    if (visible) {
      this.#onBoxResize(true);
      this.term.refresh(0, this.term.rows - 1);
    }
  }

  focus(): void {
    this.term.focus();
  }

  /** Sends bytes as if typed (the key bar). */
  sendKeys(data: string): void {
    if (this.readOnly) {
      toast('This terminal is read-only: you can watch, not type.', 'info');
      return;
    }
    this.#flushPreference();
    if (!this.#conn.sendInput(data)) this.#flashBanner('Not connected: your input was not sent.');
  }

  /** "Fit here": the terminal takes this device's size (the others then show it scaled). */
  fitHere(): void {
    const f = this.#fitted();
    if (!f || this.readOnly || this.#exit) return;
    this.#sendPreference(f, true);
  }

  /** Whether the terminal's programs asked for application cursor keys (vim, less). */
  get applicationCursor(): boolean {
    return this.term.modes.applicationCursorKeysMode;
  }

  /** The active buffer as text, one line per row (tests and the agent-style "read the screen"). */
  screenText(): string {
    const b = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    while (lines.length && lines.at(-1) === '') lines.pop();
    return lines.join('\n');
  }

  retryNow(): void {
    this.#conn.retryNow();
  }

  dropConnectionForTest(): void {
    this.#conn.dropForTest();
  }

  // --- size ------------------------------------------------------------------------------------

  #onBoxResize(immediate = false): void {
    if (!this.#visible) return;
    if (immediate) this.#proposeSize();
    else this.#resizeTimer.set(() => this.#proposeSize(), RESIZE_DEBOUNCE_MS);
  }

  /** The size that fits this viewer's box, or undefined while the box is hidden. */
  #fitted(): { cols: number; rows: number } | undefined {
    if (this.#box.clientWidth === 0 || this.#box.clientHeight === 0) return undefined;
    const d = this.#fit.proposeDimensions();
    if (!d || !Number.isFinite(d.cols) || !Number.isFinite(d.rows)) return undefined;
    return { cols: Math.max(2, d.cols), rows: Math.max(1, d.rows) };
  }

  #proposeSize(): void {
    const f = this.#fitted();
    if (f && !this.readOnly && !this.#exit) {
      // Before the first `m` nothing is written yet: show the fitted size until the server says.
      if (this.#ordered === undefined && this.#meta.cols === undefined) this.term.resize(f.cols, f.rows);
      if (this.#meta.role !== undefined) this.#sendPreference(f, false);
    }
    this.#applyScale();
  }

  /** Sends this device's size: a preference the server applies while this device controls the size; `claim` takes it. */
  #sendPreference(f: { cols: number; rows: number }, claim: boolean): void {
    const key = `${f.cols}x${f.rows}`;
    if (!claim && key === this.#sentPref) return;
    if (this.#conn.sendResize(f.cols, f.rows, claim)) this.#sentPref = key;
  }

  /** Typing makes this device the size controller: its latest size must be on the server first. */
  #flushPreference(): void {
    if (!this.#resizeTimer.pending) return;
    this.#resizeTimer.cancel();
    this.#proposeSize();
  }

  #applyServerSize(): void {
    const s = this.#ordered;
    if (s && (s.cols !== this.term.cols || s.rows !== this.term.rows)) this.term.resize(s.cols, s.rows);
    this.#applyScale();
  }

  /**
   * Shows a terminal larger than the box at its real size, scaled down to fit, no smaller than a
   * legible font; past that the box pans (scrolls) over it. It is never reflowed to this box: another
   * device controls the size (docs/protocol.md, Size).
   */
  #applyScale(): void {
    const el = this.term.element;
    const screen = el?.querySelector('.xterm-screen') as HTMLElement | null;
    if (!el || !screen || !this.#visible) return;
    const need = { width: screen.offsetWidth + SCROLL_BAR_PX, height: screen.offsetHeight };
    const avail = { width: this.#host.clientWidth, height: this.#host.clientHeight };
    if (!need.height || !avail.width || !avail.height) return;
    const fits = need.width <= avail.width + 0.5 && need.height <= avail.height + 0.5;
    const { scale, pan } = fits ? { scale: 1, pan: false } : fitTerminal(avail, need, this.term.options.fontSize ?? 14);
    // Fitting: xterm fills the box as usual. Larger: xterm at its real size, scaled from the top left corner.
    el.style.width = fits ? '' : `${need.width}px`;
    el.style.height = fits ? '' : `${need.height}px`;
    el.style.transform = scale < 0.999 ? `scale(${scale.toFixed(4)})` : '';
    this.#host.classList.toggle('scaled', scale < 0.999);
    this.#host.classList.toggle('panned', pan);
    this.element.dataset.scale = scale.toFixed(3);
  }

  #renderSizeControl(): void {
    const c = this.#meta.sizeControl;
    this.#sizeCtlEl.hidden = c === undefined; // an older server
    const mine = c === 'you';
    setText(this.#sizeCtlText, mine ? 'size: this device' : c === 'other' ? 'size: other device' : 'size: not set');
    this.#sizeCtlEl.classList.toggle('other', !mine);
    this.#sizeCtlEl.dataset.control = c ?? '';
    this.#fitBtn.hidden = mine || this.readOnly || this.#exit !== undefined;
  }

  // --- frames ----------------------------------------------------------------------------------

  #onMeta(m: TerminalMeta): void {
    const prevRole = this.#meta.role;
    this.#meta = { ...this.#meta, ...m };
    if (this.#meta.role !== prevRole) {
      const ro = this.#meta.role === 'read-only';
      this.#roleEl.hidden = !ro;
      this.term.options.disableStdin = ro;
      this.element.classList.toggle('read-only', ro);
    }
    if (typeof m.cols === 'number' && typeof m.rows === 'number') {
      const size = { cols: m.cols, rows: m.rows };
      // In order with the output before it (xterm's write is asynchronous): that output was printed at the old size.
      this.term.write(NO_BYTES, () => {
        this.#ordered = size;
        this.#applyServerSize();
      });
    }
    this.#renderSizeControl();
    setText(this.#sizeEl, typeof m.cols === 'number' ? `${this.#meta.cols}×${this.#meta.rows}` : this.#sizeEl.textContent ?? '');
    const v = this.#meta.viewers;
    setText(this.#viewersEl, typeof v === 'number' ? `${v} viewer${v === 1 ? '' : 's'}` : '');
    this.element.classList.toggle('behind', this.#meta.behind === true);
    this.#o.onMeta?.(this.#meta);
    // Once the role is known, an owner states its size on this socket (the first to do so takes it).
    if (!this.readOnly && this.#sentPref === undefined) queueMicrotask(() => this.#proposeSize());
  }

  #onStatus(s: ConnectionStatus): void {
    this.#status = s;
    const label = STATE_LABEL[s.state];
    setText(this.#stateEl, label);
    this.#stateEl.className = `pill pill-${s.state}`;
    this.element.dataset.state = s.state;
    this.#renderBanner();
    this.#o.onStatus?.(s);
  }

  #onExit(e: ExitInfo): void {
    this.#exit = e;
    this.term.options.disableStdin = true;
    this.#renderSizeControl();
    this.#renderBanner();
  }

  #renderBanner(): void {
    this.#bannerTimer.cancel();
    const s = this.#status;
    const b = this.#banner;
    const actions: HTMLElement[] = [];
    let text = '';
    let kind = 'info';
    if (this.#exit || s.state === 'exited') {
      text = this.#exit ? describeExit(this.#exit) : 'Process exited.';
      kind = 'exit';
      if (this.#o.onCloseRequest) actions.push(this.#button('Close tab', () => this.#o.onCloseRequest?.()));
    } else if (s.state === 'closed' || s.state === 'failed') {
      text = s.message ?? 'Disconnected.';
      kind = 'error';
      if (this.#o.onCloseRequest) actions.push(this.#button('Close tab', () => this.#o.onCloseRequest?.()));
    } else if (s.state === 'limited' || s.state === 'reconnecting') {
      kind = s.state === 'limited' ? 'error' : 'warn';
      const base = s.state === 'limited' ? s.message ?? 'Too many connections.' : s.message ?? 'Connection lost.';
      const tick = () => {
        const left = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000)) : 0;
        setText(b.querySelector('.banner-text') ?? b, left > 0 ? `${base} Retrying in ${left} s…` : `${base} Retrying…`);
        if (left > 0 && this.#status === s) this.#bannerTimer.set(tick, 1000);
      };
      actions.push(this.#button('Retry now', () => this.#conn.retryNow()));
      b.replaceChildren(h('span', { class: 'banner-text' }), ...actions);
      b.className = `banner banner-${kind}`;
      b.hidden = false;
      tick();
      return;
    } else {
      b.hidden = true;
      b.replaceChildren();
      return;
    }
    b.replaceChildren(h('span', { class: 'banner-text' }, text), ...actions);
    b.className = `banner banner-${kind}`;
    b.hidden = false;
  }

  #flashBanner(text: string): void {
    if (!this.#banner.hidden) return;
    toast(text, 'error');
  }

  #button(label: string, fn: () => void): HTMLButtonElement {
    const btn = h('button', { class: 'btn btn-small', type: 'button' }, label);
    btn.addEventListener('click', fn);
    return btn;
  }

  dispose(): void {
    this.#store.dispose();
    this.element.remove();
  }
}

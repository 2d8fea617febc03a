/**
 * The mirrors of many sessions, as one mirror worker hosts them (mirror-worker.ts is the thread
 * around this; tests drive it directly). Messages are handled in order and synchronously, so a
 * snapshot reflects exactly the data posted before it, and an exception is known to belong to the
 * session whose message threw.
 *
 * Crash isolation: xterm.js has bugs that make a terminal throw on ordinary output or resizes
 * (xterm-guards.ts works around the ones known). Whatever still throws is caught per session: that
 * mirror is rebuilt from what can still be read of it (its snapshot, written into a fresh
 * terminal; blank if even that fails), the session is told it is degraded, and no other session
 * notices. The bytes of the message that threw are not replayed (part of them was parsed, and they
 * may throw again); viewers kept every byte, so only a later snapshot can miss them.
 *
 * Parsing is synchronous (`writeSync`): xterm's asynchronous write runs the parser from a timer,
 * where an exception cannot be told apart from another session's, and the worker would die with
 * every mirror in it. Each message is at most the mirror's held window, so a long parse delays the
 * other sessions of this worker by tens of milliseconds at worst.
 */
import type { FromWorker, SnapshotReply, ToWorker } from './mirror-messages.ts';
import { screenText } from './screen-text.ts';
import { serializeTerminal } from './snapshot.ts';
import { createMirrorTerminal, repairAfterResize, type HeadlessTerminal } from './xterm-guards.ts';

export interface MirrorHostOptions {
  /** xterm-guards.ts workarounds (default on; tests turn them off to reproduce xterm's crashes). */
  workarounds?: boolean;
  /** Makes a mirror's terminal (tests inject faults through it). */
  create?: (cols: number, rows: number, scrollback: number) => HeadlessTerminal;
}

interface Entry {
  term: HeadlessTerminal;
  scrollback: number;
  /** The size last asked for (a resize that threw may have left the terminal in between). */
  cols: number;
  rows: number;
}

export class MirrorHost {
  readonly #post: (m: FromWorker) => void;
  readonly #mirrors = new Map<string, Entry>();
  readonly #workarounds: boolean;
  readonly #create: (cols: number, rows: number, scrollback: number) => HeadlessTerminal;
  /** Mirrors rebuilt after an exception, since the host started. */
  failures = 0;
  /**
   * xterm's decode buffer, shared by every mirror of this host. Each terminal has its own
   * (`InputHandler._parseBuffer`: 16 KiB at creation, grown to the largest write up to 512 KiB and
   * never shrunk), so each session that once parsed a held window of output kept half a megabyte,
   * and an idle one 16 KiB. It is only read during a parse, and parsing here is synchronous and one
   * mirror at a time, so one buffer serves them all.
   */
  #parseBuffer: Uint32Array = new Uint32Array(PARSE_BUFFER_START);

  constructor(post: (m: FromWorker) => void, opts: MirrorHostOptions = {}) {
    this.#post = post;
    this.#workarounds = opts.workarounds !== false;
    this.#create = opts.create ?? ((c, r, s) => createMirrorTerminal(c, r, s, { workarounds: this.#workarounds }));
  }

  get size(): number {
    return this.#mirrors.size;
  }

  /** The terminal of mirror `id` (tests). */
  terminal(id: string): HeadlessTerminal | undefined {
    return this.#mirrors.get(id)?.term;
  }

  handle(m: ToWorker): void {
    if (m.t === 'open') {
      this.#mirrors.get(m.id)?.term.dispose();
      this.#mirrors.set(m.id, { term: this.#adopt(this.#create(m.cols, m.rows, m.scrollback)), scrollback: m.scrollback, cols: m.cols, rows: m.rows });
      return;
    }
    const e = this.#mirrors.get(m.id);
    if (!e) {
      // A request for a mirror closed meanwhile (teardown raced with it): answer so nothing waits forever.
      if ('req' in m) this.#post({ t: 'reply', req: m.req, ok: false, error: 'mirror closed' });
      return;
    }
    switch (m.t) {
      case 'data':
        this.#guarded(m.id, e, 'output', () => this.#write(e.term, m.data));
        this.#post({ t: 'parsed', id: m.id, bytes: m.data.byteLength, lines: e.term.buffer.normal.length });
        return;
      case 'resize':
        e.cols = m.cols;
        e.rows = m.rows;
        this.#guarded(m.id, e, 'resize', () => {
          e.term.resize(m.cols, m.rows);
          if (this.#workarounds) repairAfterResize(e.term);
        });
        return;
      case 'snapshot':
        return this.#reply(m.id, e, m.req, 'snapshot', (): SnapshotReply => ({
          data: serializeTerminal(e.term, { scrollback: e.scrollback }),
          cols: e.term.cols,
          rows: e.term.rows,
          cursorX: e.term.buffer.active.cursorX,
          cursorY: e.term.buffer.active.cursorY,
        }));
      case 'text':
        return this.#reply(m.id, e, m.req, 'screen text', () => screenText(e.term, m.scrollback));
      case 'trim':
        return this.#reply(m.id, e, m.req, 'trim', () => {
          const before = e.term.buffer.normal.length;
          // Lowering the option drops the oldest lines now; raising it again only allows regrowth.
          e.term.options.scrollback = 0;
          e.term.options.scrollback = e.scrollback;
          return before - e.term.buffer.normal.length;
        });
      case 'close':
        this.#mirrors.delete(m.id);
        try {
          e.term.dispose();
        } catch {
          // A terminal broken by an xterm bug may fail to dispose too: it is dropped either way.
        }
        return;
    }
  }

  /** Runs `fn` on mirror `id`; if it throws, the mirror is rebuilt (and this session only is told). */
  #guarded(id: string, e: Entry, what: string, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      this.#rebuild(id, e, what, err);
      return false;
    }
  }

  /** A request's reply; one that throws is tried once more on the rebuilt mirror. */
  #reply(id: string, e: Entry, req: number, what: string, fn: () => SnapshotReply | string | number): void {
    let value: SnapshotReply | string | number | undefined;
    if (!this.#guarded(id, e, what, () => (value = fn())) && !this.#guarded(id, e, what, () => (value = fn()))) {
      this.#post({ t: 'reply', req, ok: false, error: `terminal mirror failed (${what})` });
      return;
    }
    this.#post({ t: 'reply', req, ok: true, value: value! });
  }

  #rebuild(id: string, e: Entry, what: string, err: unknown): void {
    this.failures++;
    const old = e.term;
    const cols = old.cols;
    const rows = old.rows;
    let restore: string | undefined;
    try {
      if (this.#workarounds) repairAfterResize(old);
      // Not the parser's state: xterm threw in the middle of handling a sequence.
      restore = serializeTerminal(old, { scrollback: e.scrollback, openSequence: false });
    } catch {
      restore = undefined; // unreadable: the mirror starts blank
    }
    try {
      old.dispose();
    } catch {
      // Broken beyond disposing: dropped.
    }
    let term = this.#adopt(this.#create(cols, rows, e.scrollback));
    try {
      if (restore) this.#write(term, restore);
      if (cols !== e.cols || rows !== e.rows) {
        term.resize(e.cols, e.rows);
        if (this.#workarounds) repairAfterResize(term);
      }
    } catch {
      term.dispose();
      term = this.#adopt(this.#create(e.cols, e.rows, e.scrollback));
    }
    e.term = term;
    const message = err instanceof Error ? err.message : String(err);
    this.#post({ t: 'failed', id, error: `xterm threw during ${what}: ${message}` });
  }

  /** Drops the terminal's own decode buffer: between parses it holds the empty one (see #parseBuffer). */
  #adopt(term: HeadlessTerminal): HeadlessTerminal {
    const ih = inputHandler(term);
    if (ih) ih._parseBuffer = NO_PARSE_BUFFER;
    return term;
  }

  /** Parses `data` now (see the module comment for why not `term.write`), in the shared decode buffer. */
  #write(term: HeadlessTerminal, data: Uint8Array | string): void {
    const core = (term as unknown as { _core: { writeSync(d: Uint8Array | string): void } })._core;
    const ih = inputHandler(term);
    if (!ih) return core.writeSync(data);
    ih._parseBuffer = this.#parseBuffer;
    try {
      core.writeSync(data);
    } finally {
      // xterm replaces a buffer too small for the write (up to its bound): the larger one is kept.
      this.#parseBuffer = ih._parseBuffer;
      ih._parseBuffer = NO_PARSE_BUFFER;
    }
  }
}

/** xterm's initial decode buffer length (InputHandler). */
const PARSE_BUFFER_START = 4096;
/**
 * What a terminal holds between parses. Empty: should anything parse outside #write, xterm finds
 * it too small and allocates its own, as it would have anyway.
 */
const NO_PARSE_BUFFER = new Uint32Array(0);

/** xterm's input handler, if this xterm version still has the field the shared buffer relies on. */
function inputHandler(term: HeadlessTerminal): { _parseBuffer: Uint32Array } | undefined {
  const ih = (term as unknown as { _core?: { _inputHandler?: { _parseBuffer?: unknown } } })._core?._inputHandler;
  return ih && ih._parseBuffer instanceof Uint32Array ? (ih as { _parseBuffer: Uint32Array }) : undefined;
}

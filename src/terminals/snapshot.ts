/**
 * The snapshot a viewer writes into a freshly reset terminal to get exactly the mirror's state:
 * every cell (text, colours, flags, underline style and colour, OSC 8 hyperlink, wide and combining
 * characters, empty cells with attributes), wrapped lines, both buffers, the pen, the cursor
 * (including the pending-wrap column after a full row), scroll regions, tab stops, saved cursors
 * (DECSC, and the one `?1049h` keeps for the shell), character sets, modes (mouse tracking and
 * encoding, bracketed paste, application cursor/keypad, origin, autowrap, insert, LNM, cursor
 * visibility and style) and the window title.
 *
 * Written by hand because @xterm/addon-serialize (0.14) restores cells and a few modes only, and
 * gets some of those wrong for real programs: its pen leaks into the alternate screen (vim comes
 * back inverse, and so does the shell after `:q`, since `?1049h` saved that pen), it moves the
 * cursor relatively from a pending-wrap column (off by one after a full row), turns OSC 8 links and
 * curly/dotted underlines into solid underlines, and drops scroll regions, charsets, saved cursors,
 * tab stops, the cursor's visibility and the mouse encoding. It is written against xterm's data
 * model (the same one the addon uses) so that it could replace the addon's string serializer.
 *
 * The state xterm's public API does not expose is read from its internals (`_core`…), guarded by
 * snapshot.test.ts and screen-state.test.ts: an xterm upgrade that moves a field fails there.
 *
 * The snapshot starts with CAN, which aborts whatever sequence the viewer's parser was in (a frame
 * may end in the middle of one) and ends any partial UTF-8 character; the viewer resets its
 * terminal (`term.reset()`, which resets neither) and writes the snapshot as bytes. It ends by
 * opening the sequence the mirror's parser is in, if any (`openSequence`): the snapshot is taken at
 * a PTY read boundary, which may fall inside `ESC[3…2m` or an OSC, and the output after it must
 * finish that sequence in the viewer as it does in the mirror.
 */
import type headless from '@xterm/headless';
import { openSequence } from './parser-state.ts';

type Terminal = InstanceType<typeof headless.Terminal>;

/** CAN: in every state of xterm's (VT500) parser it goes to GROUND, aborting an OSC/DCS string without dispatching it. */
export const ABORT_SEQUENCE = '\x18';

const HAS_EXTENDED = 0x10000000;
const PROTECTED = 0x20000000;
const CM_MASK = 0x3000000;
const CM_P16 = 0x1000000;
const CM_P256 = 0x2000000;
const CM_RGB = 0x3000000;
const COLOR_MASK = 0x3ffffff;
const FG_UNDERLINE = 0x10000000;
/** fg flag → SGR (underline is handled with its style). */
const FG_FLAGS: [number, number][] = [
  [0x8000000, 1],
  [0x20000000, 5],
  [0x4000000, 7],
  [0x40000000, 8],
  [0x80000000, 9],
];
/** bg flag → SGR (PROTECTED is DECSCA, HAS_EXTENDED is internal). */
const BG_FLAGS: [number, number][] = [
  [0x8000000, 2],
  [0x4000000, 3],
  [0x40000000, 53],
];
/** Printed where a cell must be created by a side effect of printing a wide character. */
const WIDE = '\u4e2d';

interface Attrs {
  fg: number;
  /** Without HAS_EXTENDED. */
  bg: number;
  style: number;
  ucolor: number;
  /** Link key (id and URI), '' for none. */
  link: string;
}

interface Cell extends Attrs {
  chars: string;
  width: number;
}

const DEFAULT_ATTRS: Attrs = { fg: 0, bg: 0, style: 0, ucolor: 0, link: '' };

const sameAttrs = (a: Attrs, b: Attrs): boolean => a.fg === b.fg && a.bg === b.bg && a.style === b.style && a.ucolor === b.ucolor && a.link === b.link;

type CellKind = 'placeholder' | 'content' | 'blank' | 'erase' | 'special';

export interface SerializeOptions {
  /** Scrollback lines to include (default: all). */
  scrollback?: number;
  /** End by opening the sequence the parser is in (default true; false for a terminal whose parser state cannot be trusted, e.g. after xterm threw in the middle of a sequence). */
  openSequence?: boolean;
}

/** Serializes `term` (see above). Throws if xterm's internals are not where this expects them. */
export function serializeTerminal(term: Terminal, options: SerializeOptions = {}): string {
  return new SnapshotWriter(term).write(options.scrollback, options.openSequence !== false);
}

function need(obj: any, path: string): any {
  let v = obj;
  for (const k of path.split('.')) {
    v = v?.[k];
    if (v === undefined) throw new Error(`xterm internals changed: ${path} is missing (update src/terminals/snapshot.ts)`);
  }
  return v;
}

/** Charset objects are module singletons: the designator (`ESC ( f`) of each, found with xterm's own handler. */
const designatorCache = new WeakMap<object, Map<unknown, string>>();
function designators(ih: any, cs: any): Map<unknown, string> {
  const key = Object.getPrototypeOf(ih) as object;
  let map = designatorCache.get(key);
  if (map) return map;
  map = new Map();
  const saved = { sets: [...need(cs, '_charsets')], glevel: cs.glevel, charset: cs.charset };
  for (const f of ['0', 'A', '4', 'C', 'R', 'Q', 'K', 'Y', 'E', 'Z', 'H', '=']) {
    ih.selectCharset('(' + f);
    if (cs._charsets[0] !== undefined && !map.has(cs._charsets[0])) map.set(cs._charsets[0], f);
  }
  cs._charsets = saved.sets;
  cs.glevel = saved.glevel;
  cs.charset = saved.charset;
  designatorCache.set(key, map);
  return map;
}

class SnapshotWriter {
  readonly #term: Terminal;
  readonly #ih: any;
  readonly #bs: any;
  readonly #core: any;
  readonly #links: any;
  readonly #cols: number;
  readonly #rows: number;
  readonly #cell: any;
  readonly #out: string[] = [];
  #x = 0;
  #y = 0;
  #pen: Attrs = DEFAULT_ATTRS;
  #link = '';
  /** Background of the blank cells of the row being written (a line made by scrolling takes the pen's). */
  #fill = 0;

  constructor(term: Terminal) {
    this.#term = term;
    this.#core = need(term, '_core');
    this.#ih = need(this.#core, '_inputHandler');
    this.#bs = need(this.#core, '_bufferService');
    this.#links = need(this.#core, '_oscLinkService');
    this.#cols = this.#bs.cols;
    this.#rows = this.#bs.rows;
    this.#cell = term.buffer.normal.getNullCell();
  }

  write(scrollback: number | undefined, withOpenSequence: boolean): string {
    const core = this.#core;
    const ih = this.#ih;
    const buffers = need(this.#bs, 'buffers');
    const normal = buffers.normal;
    const alt = buffers.alt;
    const altActive = buffers.active === alt;
    const coreService = need(core, 'coreService');
    const dpm = need(coreService, 'decPrivateModes');
    const cs = need(core, '_charsetService');
    const names = designators(ih, cs);
    const out = this.#out;

    out.push(ABORT_SEQUENCE);
    // Always written: a viewer's reset() keeps the old title.
    out.push(`\x1b]2;${need(ih, '_windowTitle')}\x07`);
    if (ih._iconName) out.push(`\x1b]1;${ih._iconName}\x07`);

    const n = normal.lines.length;
    const from = scrollback === undefined ? 0 : Math.max(0, n - this.#rows - Math.max(0, scrollback));
    this.#rowsOf(normal, from, n);
    this.#bufferState(normal, names);
    if (altActive) {
      // The alternate screen starts blank with the pen's background: the pen is reset first, so nothing leaks into it.
      this.#penTo(DEFAULT_ATTRS);
      this.#linkTo('');
      out.push('\x1b[?1047h\x1b[H');
      this.#x = 0;
      this.#y = 0;
      this.#fill = 0;
      this.#rowsOf(alt, 0, alt.lines.length);
      this.#bufferState(alt, names);
    } else if (!this.#savedIsDefault(alt)) {
      // A saved cursor survives leaving the alternate screen (xterm clears only its lines).
      this.#penTo(DEFAULT_ATTRS);
      this.#linkTo('');
      out.push('\x1b[?1047h');
      this.#saved(alt, names);
      this.#penTo(DEFAULT_ATTRS);
      out.push('\x1b[?1047l');
    }

    const active = buffers.active;
    // DECOM homes the cursor: set it before the cursor is placed (and the place is then relative to the region).
    if (dpm.origin) out.push('\x1b[?6h');
    const top = dpm.origin ? active.scrollTop : 0;
    const sets = need(cs, '_charsets') as unknown[];
    // xterm's DECRC sets the active charset apart from G0–G3 (to the saved one, or ASCII): only
    // another DECRC makes that state again. It moves the cursor, so the cursor is placed after it,
    // unless placing it means reprinting a character that charset would map.
    const viaRestore = cs.charset !== sets[cs.glevel] && cs.charset === active.savedCharset && !(active.x >= this.#cols && cs.charset !== undefined);
    if (!viaRestore) this.#placeCursor(active, active.x, active.y, top);
    // Character sets after the cells: those are printed through the default G0.
    ['(', ')', '*', '+'].forEach((inter, g) => {
      const f = sets[g] === undefined ? undefined : names.get(sets[g]);
      if (f) out.push(`\x1b${inter}${f}`);
    });
    if (cs.glevel === 1) out.push('\x0e');
    else if (cs.glevel === 2) out.push('\x1bn');
    else if (cs.glevel === 3) out.push('\x1bo');
    if (viaRestore) {
      out.push('\x1b8');
      this.#pen = { ...DEFAULT_ATTRS, fg: -1 }; // DECRC set the pen: the next one is written in full
      this.#placeCursor(active, active.x, active.y, top);
    }

    out.push(this.#modes(core, coreService, dpm));
    const pen = need(ih, '_curAttrData');
    const penAttrs = this.#attrsOf(pen.fg, pen.bg, pen.extended, true);
    this.#penTo(penAttrs);
    this.#linkTo(penAttrs.link);
    if (withOpenSequence) out.push(openSequence(need(ih, '_parser')));
    return out.join('');
  }

  #modes(core: any, coreService: any, dpm: any): string {
    let s = '';
    if (dpm.applicationCursorKeys) s += '\x1b[?1h';
    if (dpm.applicationKeypad) s += '\x1b[?66h';
    if (dpm.bracketedPasteMode) s += '\x1b[?2004h';
    if (dpm.reverseWraparound) s += '\x1b[?45h';
    if (dpm.sendFocus) s += '\x1b[?1004h';
    if (!dpm.wraparound) s += '\x1b[?7l';
    if (need(coreService, 'modes').insertMode) s += '\x1b[4h';
    const mouse = need(core, 'coreMouseService');
    const protocol = { X10: 9, VT200: 1000, DRAG: 1002, ANY: 1003 }[need(mouse, 'activeProtocol') as string];
    if (protocol) s += `\x1b[?${protocol}h`;
    const encoding = { SGR: 1006, SGR_PIXELS: 1016 }[need(mouse, 'activeEncoding') as string];
    if (encoding) s += `\x1b[?${encoding}h`;
    // Not reset by a viewer's reset(): always written.
    s += coreService.isCursorHidden ? '\x1b[?25l' : '\x1b[?25h';
    s += need(core, 'optionsService.rawOptions').convertEol ? '\x1b[20h' : '\x1b[20l';
    const style = { block: 1, underline: 3, bar: 5 }[dpm.cursorStyle as string];
    if (style) s += `\x1b[${style + (dpm.cursorBlink ? 0 : 1)} q`;
    return s;
  }

  // --- buffer state ------------------------------------------------------------------------------

  /** Scroll region, tab stops and saved cursor of the active buffer `b`. */
  #bufferState(b: any, names: Map<unknown, string>): void {
    const rows = this.#rows;
    if (b.scrollTop !== 0 || b.scrollBottom !== rows - 1) {
      this.#out.push(`\x1b[${b.scrollTop + 1};${b.scrollBottom + 1}r`);
      this.#x = 0;
      this.#y = 0;
    }
    const tabs = need(b, 'tabs');
    const width = need(this.#core, 'optionsService.rawOptions').tabStopWidth ?? 8;
    let standard = true;
    for (let x = 0; x < this.#cols; x++) if (!!tabs[x] !== (x % width === 0)) standard = false;
    if (!standard) {
      this.#out.push('\x1b[3g');
      for (let x = 0; x < this.#cols; x++) {
        if (!tabs[x]) continue;
        this.#moveTo(x);
        this.#out.push('\x1bH');
      }
    }
    if (!this.#savedIsDefault(b)) this.#saved(b, names);
  }

  #savedIsDefault(b: any): boolean {
    const p = need(b, 'savedCurAttrData');
    return b.savedX === 0 && b.savedY - b.ybase <= 0 && p.fg === 0 && (p.bg & ~HAS_EXTENDED) === 0 && b.savedCharset === undefined;
  }

  /** DECSC as `b` holds it: position (pending wrap included), pen (fg/bg, what xterm saves) and charset. */
  #saved(b: any, names: Map<unknown, string>): void {
    const row = Math.min(this.#rows - 1, Math.max(0, b.savedY - b.ybase));
    this.#placeCursor(b, b.savedX, row, 0);
    const p = b.savedCurAttrData;
    this.#penTo({ fg: p.fg, bg: p.bg & ~HAS_EXTENDED, style: 0, ucolor: 0, link: '' });
    const f = b.savedCharset === undefined ? undefined : names.get(b.savedCharset);
    if (f) this.#out.push(`\x1b(${f}\x1b7\x1b(B`);
    else this.#out.push('\x1b7');
  }

  /**
   * Puts the cursor at (`x`, viewport row `y`) of buffer `b`; `top` is subtracted from the row (origin mode).
   * x === cols is xterm's pending wrap after a full row: reached by printing the row's last character again.
   */
  #placeCursor(b: any, x: number, y: number, top: number): void {
    const cols = this.#cols;
    const cup = (col: number) => {
      this.#out.push(`\x1b[${Math.max(0, y - top) + 1};${col + 1}H`);
      this.#x = col;
      this.#y = y;
    };
    if (x < cols) return cup(x);
    const line = b.lines.get(b.ybase + y);
    const last = line ? this.#load(line, cols - 1) : undefined;
    const lead = line && cols >= 2 ? this.#load(line, cols - 2) : undefined;
    const cell = lead && lead.width === 2 && lead.chars !== '' ? lead : last;
    if (cell && cell.chars !== '') {
      cup(cell.width === 2 ? cols - 2 : cols - 1);
      this.#printCell(cell);
      return;
    }
    // An empty last cell: print over it, then erase the row up to the cursor (EL 1 keeps the
    // pending wrap), which only gives the right row if the whole row is erased cells of one background.
    cup(cols - 1);
    const bg = last ? last.bg & COLOR_MASK : 0;
    for (let x = 0; line && x < cols; x++) {
      const c = this.#load(line, x);
      if (c.chars !== '' || c.width !== 1 || c.fg !== 0 || c.bg !== bg || c.style !== 0 || c.ucolor !== 0 || c.link !== '') return; // the wrap is lost
    }
    this.#penTo({ ...DEFAULT_ATTRS, bg });
    this.#out.push(' \x1b[1K');
    this.#x = cols;
  }

  // --- rows ----------------------------------------------------------------------------------------

  /** Lines `from`..`to` of `b`, starting at the cursor (row 0 of a blank screen). */
  #rowsOf(b: any, from: number, to: number): void {
    let carry = { startCol: 0, dirty: -1 };
    const firstLine = b.lines.get(from);
    // The line it continues has left the buffer: wrap into it from a blank row, which scrolls away
    // as the rest is written where that costs nothing (the alternate screen has no scrollback; a
    // viewer keeping as much scrollback as a full mirror drops it too). Elsewhere the flag is lost.
    if (firstLine?.isWrapped && (!b.hasScrollback || (from === 0 && b.lines.length === b.lines.maxLength))) {
      carry = this.#row(null, firstLine, 0, -1);
    }
    for (let i = from; i < to; i++) {
      const line = b.lines.get(i);
      const next = i + 1 < to ? b.lines.get(i + 1) : undefined;
      if (i > from && !line.isWrapped) this.#newline();
      carry = this.#row(line, next?.isWrapped ? next : undefined, carry.startCol, carry.dirty);
    }
  }

  #newline(): void {
    // A line feed at the bottom scrolls in a line with the pen's background.
    if (this.#y === this.#rows - 1 && (this.#pen.bg & COLOR_MASK) !== 0) this.#penTo(DEFAULT_ATTRS);
    this.#out.push('\r\n');
    this.#x = 0;
    if (this.#y < this.#rows - 1) this.#y++;
    this.#fill = 0;
  }

  #load(line: any, x: number): Cell {
    const c = this.#cell;
    line.loadCell(x, c);
    const a = this.#attrsOf(c.fg, c.bg, c.extended, false);
    return { ...a, chars: c.getChars(), width: c.getWidth() };
  }

  /** A cell's or the pen's attributes; a cell's extended attributes count only with HAS_EXTENDED (otherwise they are stale). */
  #attrsOf(fg: number, bg: number, ext: any, isPen: boolean): Attrs {
    // DECALN copies fg/bg (HAS_EXTENDED included) but not the extended attributes: a cell may claim them and have none.
    const hasExt = (isPen || (bg & HAS_EXTENDED) !== 0) && ext !== undefined;
    const raw = hasExt ? (need(ext, '_ext') as number) : 0;
    const urlId = hasExt ? (ext._urlId as number) : 0;
    // The underline as xterm draws it (AttributeData.getUnderlineStyle): none without the flag, single without extended attributes.
    const style = fg & FG_UNDERLINE ? (hasExt ? (raw >>> 26) & 7 || 1 : 1) : 0;
    return { fg: fg >>> 0, bg: (bg & ~HAS_EXTENDED) >>> 0, style, ucolor: raw & COLOR_MASK, link: this.#linkKey(urlId) };
  }

  #linkKey(urlId: number): string {
    if (!urlId) return '';
    const d = this.#links.getLinkData(urlId);
    return d ? `${d.id === undefined ? '' : 'id=' + d.id};${d.uri}` : '';
  }

  #kind(c: Cell): CellKind {
    if (c.chars !== '') return 'content';
    if (c.width === 0) return 'placeholder';
    if (c.fg !== 0 || (c.bg & ~COLOR_MASK) !== 0 || c.style !== 0 || c.ucolor !== 0 || c.link !== '') return 'special';
    return c.bg === this.#fill ? 'blank' : 'erase';
  }

  /**
   * One line, from column `startCol` (the cells before it were printed by the wrap that made this
   * line); `dirtyCol` must be rewritten even if blank. `next` is the following line when it is a
   * wrapped continuation: then this line ends in the pending-wrap state and `next`'s first cell is
   * printed to wrap into it. Returns where `next` continues.
   */
  #row(line: any, next: any, startCol: number, dirtyCol: number): { startCol: number; dirty: number } {
    const cols = this.#cols;
    const cells: Cell[] = [];
    for (let x = 0; x < cols; x++) cells.push(line ? this.#load(line, x) : { ...DEFAULT_ATTRS, bg: this.#fill, chars: '', width: 1 });
    const dirty = new Uint8Array(cols);
    if (dirtyCol >= 0) dirty[dirtyCol] = 1;
    const done = new Uint8Array(cols);
    done.fill(1, 0, Math.min(startCol, cols));
    const last = cells[cols - 1]!;
    const lastEmpty = last.chars === '' && last.width === 1;
    const first = next ? this.#load(next, 0) : undefined;
    // A wide character that did not fit left the last cell empty in the pen it was printed with: print it the same way.
    const natural = !!first && lastEmpty && first.width === 2 && first.chars !== '' && sameAttrs(last, first);
    let from = startCol;
    // The last cell is made by the wrap below (after anything this row does to it).
    const lastByWrap = !!next && lastEmpty;
    if (lastByWrap) done[cols - 1] = 1;
    else if (lastEmpty && this.#kind(last) === 'special' && cols >= 2 && (startCol <= cols - 2 || cells[cols - 2]!.width === 1)) {
      this.#lastColumnEmpty(last);
      done[cols - 1] = 1;
      done[cols - 2] = 0;
      dirty[cols - 2] = 1;
      from = Math.min(from, cols - 2);
    }

    for (let c = from; c < cols; c++) {
      if (done[c]) continue;
      const cell = cells[c]!;
      const kind = this.#kind(cell);
      // The right half of a wide character is its own whatever xterm left in it (renderers skip it too).
      if (kind === 'placeholder' || (c > 0 && cells[c - 1]!.width === 2 && cells[c - 1]!.chars !== '')) continue;
      if (kind === 'content') {
        this.#moveTo(c, cell.width === 0);
        this.#printCell(cell);
        continue;
      }
      if (kind === 'blank' && !dirty[c]) continue;
      if (kind === 'special' && c < cols - 1 && (!done[c + 1] || (lastByWrap && c + 1 === cols - 1))) {
        this.#innerEmpty(c, cell);
        dirty[c + 1] = 1;
        continue;
      }
      // Erased cells (and a special one that no trick can make here: its background at least).
      const bg = cell.bg & COLOR_MASK;
      let end = c + 1;
      while (end < cols && !done[end] && this.#needsErase(cells[end]!, dirty[end]!) && (cells[end]!.bg & COLOR_MASK) === bg) end++;
      this.#erase(c, end - c, bg);
      c = end - 1;
    }
    if (!next) return { startCol: 0, dirty: -1 };
    return this.#wrapInto(cells, first!, natural);
  }

  #needsErase(c: Cell, dirty: number): boolean {
    const kind = this.#kind(c);
    return kind === 'erase' || (kind === 'blank' && dirty === 1);
  }

  /** Ends `cells`' line in the pending-wrap state and prints `first` (the next line's first cell) so it wraps. */
  #wrapInto(cells: Cell[], first: Cell, natural: boolean): { startCol: number; dirty: number } {
    const cols = this.#cols;
    const fillAbove = this.#fill;
    let repair = false;
    if (natural) this.#moveTo(cols - 1);
    else if (this.#x !== cols) {
      const last = cells[cols - 1]!;
      const lead = cols >= 2 ? cells[cols - 2]! : undefined;
      const cell = lead && lead.width === 2 && lead.chars !== '' ? lead : last;
      if (cell.chars !== '') {
        this.#moveTo(cell.width === 2 ? cols - 2 : cols - 1);
        this.#printCell(cell);
      } else {
        this.#moveTo(cols - 1);
        this.#out.push(' ');
        this.#x = cols;
        repair = true;
      }
    }
    const atBottom = this.#y === this.#rows - 1;
    let result: { startCol: number; dirty: number };
    // A lone combining mark (width 0) does not wrap: it is written by the row, after a filler wraps.
    if (first.chars !== '' && first.width > 0) {
      this.#printCell(first, true);
      result = { startCol: first.width, dirty: -1 };
    } else {
      this.#penTo(DEFAULT_ATTRS);
      this.#out.push(' ');
      result = { startCol: 0, dirty: 0 };
    }
    this.#x = result.startCol === 0 ? 1 : result.startCol;
    if (this.#y < this.#rows - 1) this.#y++;
    this.#fill = atBottom ? this.#pen.bg & COLOR_MASK : 0;
    // The filler printed to wrap sits in the line above: make that cell what it was.
    if (repair && this.#rows >= 2) {
      const back = this.#x;
      const fillHere = this.#fill;
      this.#out.push('\x1b[A');
      this.#y--;
      this.#fill = fillAbove;
      this.#x = Math.min(this.#x, cols - 1);
      const last = cells[cols - 1]!;
      if (this.#kind(last) === 'special' && cols >= 2) {
        this.#lastColumnEmpty(last);
        const prev = cells[cols - 2]!;
        const kind = this.#kind(prev);
        if (kind === 'content') {
          this.#moveTo(cols - 2, prev.width === 0);
          this.#printCell(prev);
        } else if (kind === 'placeholder' && cols >= 3 && cells[cols - 3]!.width === 2) {
          this.#moveTo(cols - 3);
          this.#printCell(cells[cols - 3]!);
        } else this.#erase(cols - 2, 1, prev.bg & COLOR_MASK);
      } else this.#erase(cols - 1, 1, last.bg & COLOR_MASK);
      this.#out.push('\x1b[B');
      this.#y++;
      this.#fill = fillHere;
      this.#moveTo(back, true);
    }
    return result;
  }

  /** An empty cell with attributes erasing cannot give (fg, flags, underline, link) at column `c` < cols − 1: printing over the second half of a wide character empties its first half in the pen. Leaves column c + 1 to be rewritten. */
  #innerEmpty(c: number, cell: Cell): void {
    this.#moveTo(c);
    this.#out.push(WIDE);
    this.#x = c + 2;
    this.#moveTo(c + 1);
    this.#penTo(cell);
    this.#linkTo(cell.link);
    this.#out.push(' ');
    this.#x = c + 2;
  }

  /** The same for the last column: a wide character shifted into it by an insert (IRM) is emptied in the pen. Leaves column cols − 2 to be rewritten. */
  #lastColumnEmpty(cell: Cell): void {
    const cols = this.#cols;
    this.#moveTo(cols - 2);
    this.#out.push(WIDE);
    this.#x = cols;
    this.#out.push('\x1b[4h');
    this.#moveTo(cols - 2);
    this.#penTo(cell);
    this.#linkTo(cell.link);
    this.#out.push(' \x1b[4l');
    this.#x = cols - 1;
  }

  #erase(c: number, count: number, bg: number): void {
    this.#moveTo(c);
    if ((this.#pen.bg & COLOR_MASK) !== bg) this.#penTo({ ...DEFAULT_ATTRS, bg });
    this.#out.push(count === 1 ? '\x1b[X' : `\x1b[${count}X`);
  }

  #printCell(cell: Cell, wraps = false): void {
    this.#penTo(cell);
    this.#linkTo(cell.link);
    this.#out.push(cell.chars);
    if (!wraps) this.#x += cell.width || 1;
  }

  /** CHA: absolute, because relative moves from a pending-wrap column are off by one in xterm. `force`: also when already there (a control before a lone combining mark keeps it from joining the character printed before). */
  #moveTo(col: number, force = false): void {
    if (col === this.#x && !force) return;
    this.#out.push(col === 0 ? '\r' : `\x1b[${col + 1}G`);
    this.#x = col;
  }

  // --- pen -----------------------------------------------------------------------------------------

  #penTo(a: Attrs): void {
    const p = this.#pen;
    if (p.fg === a.fg && p.bg === a.bg && p.style === a.style && p.ucolor === a.ucolor) return;
    const sgr: (number | string)[] = [0];
    color(sgr, a.fg, 30, 90, 38);
    color(sgr, a.bg, 40, 100, 48);
    if (a.fg & FG_UNDERLINE) sgr.push(a.style > 1 ? `4:${a.style}` : 4);
    for (const [flag, code] of FG_FLAGS) if (a.fg & flag) sgr.push(code);
    for (const [flag, code] of BG_FLAGS) if (a.bg & flag) sgr.push(code);
    const uc = a.ucolor;
    if ((uc & CM_MASK) === CM_RGB) sgr.push(58, 2, (uc >>> 16) & 0xff, (uc >>> 8) & 0xff, uc & 0xff);
    else if ((uc & CM_MASK) !== 0) sgr.push(58, 5, uc & 0xff);
    this.#out.push(`\x1b[${sgr.join(';')}m`);
    // DECSCA, which SGR 0 does not set.
    if (a.bg & PROTECTED) this.#out.push('\x1b[1"q');
    this.#pen = { ...a, link: '' };
  }

  /** OSC 8 (links are keyed by their id and URI: the source terminal's numbers mean nothing to the viewer's). */
  #linkTo(key: string): void {
    if (key === this.#link) return;
    this.#link = key;
    this.#out.push(`\x1b]8;${key || ';'}\x07`);
  }
}

function color(sgr: (number | string)[], v: number, base: number, bright: number, extended: number): void {
  const mode = v & CM_MASK;
  if (mode === CM_P16) {
    const n = v & 0xff;
    sgr.push(n < 8 ? base + n : bright + n - 8);
  } else if (mode === CM_P256) sgr.push(extended, 5, v & 0xff);
  else if (mode === CM_RGB) sgr.push(extended, 2, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/**
 * The full state of an xterm.js terminal as plain data, for comparing two terminals: every line's
 * cells (text, width, colours, flags, underline style and colour, hyperlink), wrap flags, the
 * cursor (with its pending-wrap column), the pen, modes, character sets, scroll regions, tab stops,
 * saved cursors and the title. Used by the tests that check a snapshot restores exactly what a
 * terminal fed every byte shows (headless in Node, and @xterm/xterm in the browser).
 *
 * Much of this is not in xterm's public API, so it reads xterm's internals (`_core`…). That is on
 * purpose and guarded: `extractScreenState` throws naming the field when one is missing, and
 * screen-state.test.ts checks each one against sequences with a known effect, so an xterm upgrade
 * that moves them fails the tests instead of silently comparing less.
 *
 * `extractScreenState` is self-contained (no imports, no module-level helpers): the browser tests
 * pass it to `page.evaluate`, which sends only the function's source.
 */

export interface CellRun {
  /** Cells of this run, as `chars/width` joined by `|` ("" for an empty cell). */
  cells: string;
  /** The run's attributes: fg, bg (without HAS_EXTENDED), underline style, underline colour, link. */
  attrs: string;
}

export interface LineState {
  wrapped: boolean;
  text: string;
  runs: CellRun[];
}

export interface SavedCursorState {
  x: number;
  /** Viewport row (xterm keeps an absolute line; restoring clamps it at 0). */
  y: number;
  fg: number;
  bg: number;
  charset: string;
}

export interface BufferState {
  lines: LineState[];
  scrollTop: number;
  scrollBottom: number;
  tabs: number[];
  saved: SavedCursorState;
}

export interface ScreenState {
  cols: number;
  rows: number;
  active: 'normal' | 'alternate';
  title: string;
  iconName: string;
  cursor: { x: number; y: number; hidden: boolean; style: string; blink: string };
  pen: { fg: number; bg: number; underlineStyle: number; underlineColor: number; link: string };
  modes: Record<string, string | boolean>;
  charsets: { g: string[]; glevel: number; active: string };
  normal: BufferState;
  /** The alternate buffer's lines only while it is active (it is cleared when left); its saved cursor always. */
  alternate: BufferState;
}

/** Extracts the state of `term` (a Terminal from @xterm/headless or @xterm/xterm). */
export function extractScreenState(term: unknown): ScreenState {
  const need = (obj: any, path: string): any => {
    let v = obj;
    for (const k of path.split('.')) {
      v = v?.[k];
      if (v === undefined) throw new Error(`xterm internals changed: ${path} is missing (update src/terminals/screen-state.ts and snapshot.ts)`);
    }
    return v;
  };
  const t = term as any;
  const core = need(t, '_core');
  const ih = need(core, '_inputHandler');
  const bs = need(core, '_bufferService');
  const coreService = need(core, 'coreService');
  const cs = need(core, '_charsetService');
  const mouse = need(core, 'coreMouseService');
  const links = need(core, '_oscLinkService');
  const options = need(core, 'optionsService.rawOptions');
  const buffers = need(bs, 'buffers');
  const cols: number = bs.cols;
  const rows: number = bs.rows;
  const HAS_EXTENDED = 0x10000000;

  // Character sets are module singletons: name each by the designator that selects it. Found with
  // the terminal's own handler (synchronous), then the charset state is put back as it was.
  const designators = new Map<unknown, string>();
  const savedSets = [...need(cs, '_charsets')];
  const savedLevel: number = cs.glevel;
  const savedActive = cs.charset;
  for (const f of ['0', 'A', '4', 'C', 'R', 'Q', 'K', 'Y', 'E', 'Z', 'H', '=', '5', '6', '7']) {
    ih.selectCharset('(' + f);
    if (!designators.has(cs._charsets[0])) designators.set(cs._charsets[0], f);
  }
  cs._charsets = savedSets;
  cs.glevel = savedLevel;
  cs.charset = savedActive;
  const charsetName = (c: unknown): string => (c === undefined || c === null ? 'B' : designators.get(c) ?? '?');

  // A link whose data xterm has dropped (its lines left the buffer) shows as no link.
  const linkName = (id: number): string => {
    const d = id ? links.getLinkData(id) : undefined;
    return d ? `${d.id ?? ''};${d.uri}` : '';
  };
  // The underline as xterm draws it (AttributeData.getUnderlineStyle): none without the flag,
  // single without extended attributes (DECALN copies the flag and not the style).
  const UNDERLINE = 0x10000000;
  // A colour as drawn: palette modes use the low 8 bits only (SGR 105 after 48;2 keeps the RGB
  // bits, which nothing reads), the default mode none.
  const colour = (v: number): number => {
    const mode = v & 0x3000000;
    return mode === 0 ? 0 : mode === 0x3000000 ? v & 0x3ffffff : mode | (v & 0xff);
  };
  const fgOf = (fg: number): number => ((fg & ~0x3ffffff) | colour(fg)) >>> 0;
  const bgOf = (bg: number): number => ((bg & ~0x3ffffff & ~HAS_EXTENDED) | colour(bg)) >>> 0;
  const extOf = (fg: number, ext: any, hasExt: boolean, isPen: boolean): { style: number; color: number; link: string } => {
    const raw: number = hasExt && ext ? need(ext, '_ext') : 0;
    const style = fg & UNDERLINE ? (hasExt && ext ? (raw >>> 26) & 7 || 1 : 1) : 0;
    return {
      style,
      // A cell's underline colour shows only with an underline; the pen's applies to what is printed next.
      color: style || isPen ? colour(raw) : 0,
      link: linkName(hasExt && ext ? (ext._urlId ?? 0) : 0),
    };
  };

  const cellPool = t.buffer.normal.getNullCell();
  const lineState = (line: any): LineState => {
    const runs: CellRun[] = [];
    let cur: CellRun | undefined;
    const cells: string[] = [];
    let prevAttrs = '';
    for (let x = 0; x < cols; x++) {
      line.loadCell(x, cellPool);
      const c = cellPool;
      const e = extOf(c.fg, c.extended, (c.bg & HAS_EXTENDED) !== 0, false);
      let attrs = `${fgOf(c.fg)}/${bgOf(c.bg)}/${e.style}/${e.color}/${e.link}`;
      let cell = `${c.getChars()}/${c.getWidth()}`;
      // Cells as xterm draws them (renderers skip width-0 cells): the one after a wide character is
      // its right half whatever xterm left in it, and a width-0 cell after anything else draws
      // nothing, like an empty default cell. Only xterm's own inconsistencies (IRM, DCH and
      // autowrap-off edge cases) leave either.
      if (x > 0 && line.getWidth(x - 1) === 2) {
        cell = '/0';
        attrs = prevAttrs;
      } else if (c.getWidth() === 0 && c.getChars() === '') {
        cell = '/1';
        attrs = '0/0/0/0/';
      }
      prevAttrs = attrs;
      if (!cur || cur.attrs !== attrs) {
        if (cur) cur.cells = cells.splice(0).join('|');
        cur = { cells: '', attrs };
        runs.push(cur);
      }
      cells.push(cell);
    }
    if (cur) cur.cells = cells.join('|');
    return { wrapped: !!line.isWrapped, text: line.translateToString(false), runs };
  };

  const bufferState = (b: any, withLines: boolean): BufferState => {
    const lines: LineState[] = [];
    if (withLines) for (let i = 0; i < b.lines.length; i++) lines.push(lineState(b.lines.get(i)));
    const tabs: number[] = [];
    for (let x = 0; x < cols; x++) if (need(b, 'tabs')[x]) tabs.push(x);
    return {
      lines,
      scrollTop: b.scrollTop,
      scrollBottom: b.scrollBottom,
      tabs,
      saved: {
        x: Math.min(b.savedX, cols - 1), // DECRC clamps it: a saved pending wrap restores as the last column
        y: Math.max(0, b.savedY - b.ybase),
        fg: fgOf(need(b, 'savedCurAttrData').fg),
        bg: bgOf(b.savedCurAttrData.bg),
        charset: charsetName(b.savedCharset),
      },
    };
  };

  const active = buffers.active === buffers.alt ? 'alternate' : 'normal';
  const ab = buffers.active;
  const dpm = need(coreService, 'decPrivateModes');
  const pen = need(ih, '_curAttrData');
  const penExt = extOf(pen.fg, pen.extended, true, true);
  return {
    cols,
    rows,
    active,
    title: need(ih, '_windowTitle') ?? '',
    iconName: ih._iconName ?? '',
    // xterm can leave x past the last column (a combining mark with autowrap off); it is drawn at the edge.
    cursor: { x: Math.min(ab.x, cols), y: ab.y, hidden: !!coreService.isCursorHidden, style: String(dpm.cursorStyle), blink: String(dpm.cursorBlink) },
    pen: { fg: fgOf(pen.fg), bg: bgOf(pen.bg), underlineStyle: penExt.style, underlineColor: penExt.color, link: penExt.link },
    modes: {
      applicationCursorKeys: !!dpm.applicationCursorKeys,
      applicationKeypad: !!dpm.applicationKeypad,
      bracketedPasteMode: !!dpm.bracketedPasteMode,
      origin: !!dpm.origin,
      reverseWraparound: !!dpm.reverseWraparound,
      sendFocus: !!dpm.sendFocus,
      wraparound: !!dpm.wraparound,
      insert: !!need(coreService, 'modes').insertMode,
      lineFeedNewLine: !!options.convertEol,
      mouseProtocol: String(need(mouse, 'activeProtocol')),
      mouseEncoding: String(need(mouse, 'activeEncoding')),
    },
    charsets: { g: [0, 1, 2, 3].map((g) => charsetName(cs._charsets[g])), glevel: cs.glevel, active: charsetName(cs.charset) },
    normal: bufferState(buffers.normal, true),
    alternate: bufferState(buffers.alt, active === 'alternate'),
  };
}

/** Where two states differ, as readable lines (at most `max`); empty when they are equal. */
export function diffScreenState(expected: ScreenState, actual: ScreenState, max = 12): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (out.length >= max) return;
    if (a === b) return;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      if (Array.isArray(a) !== Array.isArray(b)) {
        out.push(`${path}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
        return;
      }
      // A line is reported whole (its text and runs), which reads better than one field of it.
      if ('runs' in (a as object) && 'runs' in (b as object)) {
        if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}:\n    expected ${JSON.stringify(a)}\n    actual   ${JSON.stringify(b)}`);
        return;
      }
      const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      return;
    }
    out.push(`${path}: expected ${JSON.stringify(a)}, actual ${JSON.stringify(b)}`);
  };
  walk(expected, actual, '');
  return out;
}

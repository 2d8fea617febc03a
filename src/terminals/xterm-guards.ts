/**
 * Workarounds for two xterm.js 6.0 bugs that make a headless terminal throw on ordinary input, at
 * the source (mirror-host.ts also catches whatever still throws, per session). Both read or write
 * xterm's internals; xterm-guards.test.ts reproduces each bug on a bare terminal (so the tests say
 * when an upgrade fixes it) and checks the workaround.
 *
 * 1. ED 1 (`CSI 1 J`, erase above) with the cursor in the last column of the bottom row throws
 *    "Cannot set properties of undefined (setting 'isWrapped')" while the buffer has no scrollback
 *    yet (`CSI 24;80H CSI 1J` on a fresh 80×24 terminal). InputHandler.eraseInDisplay clears the
 *    wrap flag of `lines.get(y + 1)`: a viewport row used as a buffer index, so it is the line
 *    below the screen (missing) or, once there is scrollback, some line above it. The upstream fix
 *    is `lines.get(ybase + y + 1)?.isWrapped = false`. Here, in the bottom row, ED 1 erases the
 *    whole screen, so ED 2 is dispatched instead (same cells; nothing below the screen to unwrap).
 *
 * 2. With no scrollback (`--terminal-scrollback-lines 0`), a resize that shrinks rows and columns
 *    can leave `ybase + rows > lines.length`: Buffer._reflowSmaller's "ybase === 0" branch
 *    increments ybase without the bound its other branch checks, then trims the buffer to
 *    maxLength (= rows). The next scroll inside a scroll region then throws "start argument out of
 *    range" from CircularList.shiftElements (print 21 characters at 20×5, `CSI L`, resize to 6×4,
 *    `CSI H`, resize to 27×6, `CSI 5;10r`, two line feeds, print). After every resize the
 *    viewport is put back inside the buffer (the lines kept are the last ones, as xterm keeps them).
 */
import headless from '@xterm/headless';

const { Terminal } = headless;
export type HeadlessTerminal = InstanceType<typeof Terminal>;

export interface MirrorTerminalOptions {
  /** Apply the workarounds above (tests turn them off to reproduce the bugs). */
  workarounds?: boolean;
}

/** A headless terminal as the mirrors use it: proposed API on (the serializer reads the buffer), xterm's own logging off. */
export function createMirrorTerminal(cols: number, rows: number, scrollback: number, opts: MirrorTerminalOptions = {}): HeadlessTerminal {
  const term = new Terminal({ cols, rows, scrollback, allowProposedApi: true, logLevel: 'off' });
  if (opts.workarounds !== false) guardEraseAbove(term);
  return term;
}

/** Workaround 1. */
export function guardEraseAbove(term: HeadlessTerminal): void {
  const core = (term as any)._core;
  // ED and DECSED (which spares protected cells) share the bug.
  for (const prefix of ['', '?']) {
    term.parser.registerCsiHandler(prefix ? { prefix, final: 'J' } : { final: 'J' }, (params) => {
      if (params[0] !== 1) return false;
      const buffer = core._bufferService.buffer;
      if (buffer.y !== core._bufferService.rows - 1 || buffer.x + 1 < core._bufferService.cols) return false;
      core._inputHandler.eraseInDisplay({ params: [2], length: 1 }, prefix === '?');
      return true;
    });
  }
}

/** Workaround 2: call after every resize. Returns whether anything needed repair. */
export function repairAfterResize(term: HeadlessTerminal): boolean {
  const bs = (term as any)._core._bufferService;
  const rows: number = bs.rows;
  let repaired = false;
  for (const b of [bs.buffers.normal, bs.buffers.alt]) {
    if (b.lines.length === 0) continue; // the alternate buffer while inactive
    const maxBase = Math.max(0, b.lines.length - rows);
    if (b.ybase > maxBase) {
      b.ybase = maxBase;
      repaired = true;
    }
    if (b.ydisp > b.ybase) b.ydisp = b.ybase;
    if (b.y > rows - 1) b.y = rows - 1;
  }
  return repaired;
}

/**
 * The two xterm.js bugs xterm-guards.ts works around: each is reproduced on a bare terminal (if
 * one stops throwing, xterm fixed it and its workaround can go), then shown harmless with it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import headless from '@xterm/headless';
import { diffScreenState, extractScreenState } from './screen-state.ts';
import { createMirrorTerminal, repairAfterResize, type HeadlessTerminal } from './xterm-guards.ts';

const { Terminal } = headless;

const writeSync = (t: HeadlessTerminal, d: string) => (t as unknown as { _core: { writeSync(d: string): void } })._core.writeSync(d);

/** At 20×5: 21 characters, insert a line, cursor home; shrink to 6×4, home, grow to 27×6; home, then scroll inside a region (found by fuzzing). */
function resizeCrash(t: HeadlessTerminal, repair: boolean): void {
  writeSync(t, 'x'.repeat(21) + '\x1b[L\x1b8');
  t.resize(6, 4);
  if (repair) repairAfterResize(t);
  writeSync(t, '\x1b[H');
  t.resize(27, 6);
  if (repair) repairAfterResize(t);
  writeSync(t, '\x1b[5;10r\x1b8\n\n' + 'x'.repeat(28));
}

describe('terminals: xterm.js bugs and their workarounds', () => {
  it('upstream: ED 1 in the bottom-right corner of a terminal without scrollback yet throws', () => {
    const t = new Terminal({ cols: 80, rows: 24, scrollback: 2000, allowProposedApi: true, logLevel: 'off' });
    assert.throws(() => writeSync(t, '\x1b[24;80H\x1b[1J'), /isWrapped/);
    t.dispose();
  });

  it('worked around: it erases the screen as ED 1 means to, for ED and DECSED', () => {
    for (const seq of ['\x1b[1J', '\x1b[?1J']) {
      const t = createMirrorTerminal(80, 24, 2000);
      writeSync(t, 'above\r\n\x1b[31mmore\x1b[24;80H' + seq + 'z');
      const ref = new Terminal({ cols: 80, rows: 24, scrollback: 2000, allowProposedApi: true, logLevel: 'off' });
      writeSync(ref, 'above\r\n\x1b[31mmore\x1b[24;80H\x1b[2Jz');
      assert.deepEqual(diffScreenState(extractScreenState(ref), extractScreenState(t)), [], JSON.stringify(seq));
      t.dispose();
      ref.dispose();
    }
  });

  it('worked around: ED 1 elsewhere is left to xterm', () => {
    const t = createMirrorTerminal(20, 5, 10);
    writeSync(t, 'aaaa\r\nbbbb\r\ncccc\x1b[2;2H\x1b[1J');
    assert.equal(t.buffer.active.getLine(0)!.translateToString(true), '');
    assert.equal(t.buffer.active.getLine(1)!.translateToString(true), '  bb');
    assert.equal(t.buffer.active.getLine(2)!.translateToString(true), 'cccc');
    t.dispose();
  });

  it('upstream: without scrollback, shrinking rows and columns leaves the viewport past the buffer, and a later scroll throws', () => {
    const t = new Terminal({ cols: 20, rows: 5, scrollback: 0, allowProposedApi: true, logLevel: 'off' });
    assert.throws(() => resizeCrash(t, false), /start argument out of range/);
    t.dispose();
  });

  it('worked around: after every resize the viewport is put back inside the buffer', () => {
    const t = createMirrorTerminal(20, 5, 0);
    resizeCrash(t, true);
    const b = (t as unknown as { _core: { _bufferService: { buffer: { ybase: number; lines: { length: number } } } } })._core._bufferService.buffer;
    assert.ok(b.ybase + t.rows <= b.lines.length);
    // The 28 characters went into the region (rows 5–6), wrapping once.
    assert.equal(t.buffer.active.getLine(b.ybase + 4)!.translateToString(true), 'x'.repeat(27));
    assert.equal(t.buffer.active.getLine(b.ybase + 5)!.translateToString(true), 'x');
    t.dispose();
  });
});

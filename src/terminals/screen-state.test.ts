/**
 * extractScreenState reads xterm's internals: each field is checked against a sequence with a
 * known effect, so an xterm upgrade that moves one fails here instead of comparing less.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import headless from '@xterm/headless';
import { diffScreenState, extractScreenState } from './screen-state.ts';

const { Terminal } = headless;

async function stateAfter(data: string, cols = 20, rows = 5): Promise<ReturnType<typeof extractScreenState>> {
  const t = new Terminal({ cols, rows, scrollback: 10, allowProposedApi: true });
  await new Promise<void>((r) => t.write(data, r));
  const s = extractScreenState(t);
  t.dispose();
  return s;
}

describe('terminals: screen state of a headless xterm', () => {
  it('a fresh terminal: defaults everywhere', async () => {
    const s = await stateAfter('');
    assert.equal(s.active, 'normal');
    assert.deepEqual(s.cursor, { x: 0, y: 0, hidden: false, style: 'undefined', blink: 'undefined' });
    assert.deepEqual(s.charsets, { g: ['B', 'B', 'B', 'B'], glevel: 0, active: 'B' });
    assert.equal(s.modes.wraparound, true);
    assert.equal(s.modes.mouseProtocol, 'NONE');
    assert.equal(s.modes.mouseEncoding, 'DEFAULT');
    assert.deepEqual(s.normal.tabs, [0, 8, 16]);
    assert.equal(s.normal.lines.length, 5);
    assert.deepEqual([s.normal.scrollTop, s.normal.scrollBottom], [0, 4]);
  });

  it('cells: text, width, colours, flags, underline style and colour, hyperlink', async () => {
    const s = await stateAfter('\x1b[1;31ma\x1b[0m中\x1b[4:3;58;5;196mc\x1b[0m\x1b]8;id=x;http://h/\x07L\x1b]8;;\x07');
    const runs = s.normal.lines[0]!.runs;
    assert.deepEqual(runs[0], { cells: 'a/1', attrs: `${(0x8000000 | 0x1000000 | 1) >>> 0}/0/0/0/` });
    assert.equal(runs[1]!.cells, '中/2|/0');
    assert.equal(runs[2]!.attrs, `${0x10000000}/0/3/${0x2000000 | 196}/`);
    assert.equal(runs[3]!.attrs, '0/0/0/0/x;http://h/');
  });

  it('cursor, pending wrap, modes, charsets, saved cursor, region, tabs, title', async () => {
    const s = await stateAfter(
      'x'.repeat(20) + '\x1b[?25l\x1b[5 q\x1b[?1002h\x1b[?1006h\x1b[?2004h\x1b[?1h\x1b[?66h\x1b[4h\x1b[?7l' + '\x1b)0\x0e\x1b[3;4H\x1b[7m\x1b7\x1b[m\x1b[2;4r\x1b[3g\x1b[6G\x1bH\x1b]0;T\x07',
    );
    assert.deepEqual(s.cursor, { x: 5, y: 0, hidden: true, style: 'bar', blink: 'true' });
    assert.equal(s.modes.mouseProtocol, 'DRAG');
    assert.equal(s.modes.mouseEncoding, 'SGR');
    assert.equal(s.modes.bracketedPasteMode, true);
    assert.equal(s.modes.applicationCursorKeys, true);
    assert.equal(s.modes.applicationKeypad, true);
    assert.equal(s.modes.insert, true);
    assert.equal(s.modes.wraparound, false);
    assert.deepEqual(s.charsets, { g: ['B', '0', 'B', 'B'], glevel: 1, active: '0' });
    assert.deepEqual(s.normal.saved, { x: 3, y: 2, fg: 0x4000000, bg: 0, charset: '0' });
    assert.deepEqual([s.normal.scrollTop, s.normal.scrollBottom], [1, 3]);
    assert.deepEqual(s.normal.tabs, [5]);
    assert.equal(s.title, 'T');
    assert.equal(s.iconName, 'T');
    const wrapped = await stateAfter('y'.repeat(20));
    assert.equal(wrapped.cursor.x, 20, 'the pending-wrap column is the cursor past the last one');
  });

  it('the alternate screen, with its saved cursor kept after leaving it', async () => {
    const s = await stateAfter('shell\x1b[?1049h\x1b[Hvim\x1b[2;2H\x1b7');
    assert.equal(s.active, 'alternate');
    assert.equal(s.alternate.lines[0]!.text.trimEnd(), 'vim');
    assert.equal(s.normal.saved.x, 5, '?1049h saved the shell cursor in the normal buffer');
    const after = await stateAfter('shell\x1b[?1049h\x1b[2;2H\x1b7\x1b[?1049l');
    assert.equal(after.alternate.lines.length, 0);
    assert.deepEqual([after.alternate.saved.x, after.alternate.saved.y], [1, 1]);
  });

  it('diffScreenState names what differs, and nothing when equal', async () => {
    const a = await stateAfter('ab\x1b[4:3mc');
    const b = await stateAfter('ab\x1b[4mc');
    assert.deepEqual(diffScreenState(a, a), []);
    const d = diffScreenState(a, b);
    assert.ok(d.some((l) => l.startsWith('pen.underlineStyle')), d.join('\n'));
    assert.ok(d.some((l) => l.startsWith('normal.lines.0')), d.join('\n'));
  });

  it('throws naming the field when xterm internals are not where it reads them', () => {
    const t = new Terminal({ cols: 10, rows: 3, allowProposedApi: true });
    const core = (t as unknown as { _core: Record<string, unknown> })._core;
    const saved = core._charsetService;
    delete core._charsetService;
    assert.throws(() => extractScreenState(t), /xterm internals changed: _charsetService/);
    core._charsetService = saved;
    t.dispose();
  });
});

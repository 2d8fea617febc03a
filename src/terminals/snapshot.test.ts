/**
 * The snapshot restores a terminal exactly: a reference terminal is fed the bytes, a second one
 * (which may have been left in the middle of a sequence, as a viewer's is when a frame ends there)
 * is reset and fed the reference's snapshot, and their full states (screen-state.ts) must be equal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import serializeModule from '@xterm/addon-serialize';
import headless from '@xterm/headless';
import { diffScreenState, extractScreenState } from './screen-state.ts';
import { ABORT_SEQUENCE, serializeTerminal } from './snapshot.ts';

const { Terminal } = headless;
const { SerializeAddon } = serializeModule;

type Term = InstanceType<typeof Terminal>;
const write = (t: Term, d: string | Uint8Array) => new Promise<void>((r) => t.write(d, r));

interface RoundTrip {
  diff: string[];
  snapshot: string;
}

/** `data` into a reference; its snapshot into a client that first got `prefix`, then reset() (in order, as a viewer does). */
async function roundTrip(data: string | Uint8Array, o: { cols?: number; rows?: number; scrollback?: number; prefix?: string | Uint8Array; serialize?: (t: Term) => string } = {}): Promise<RoundTrip> {
  const cols = o.cols ?? 30;
  const rows = o.rows ?? 8;
  const scrollback = o.scrollback ?? 50;
  const ref = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
  await write(ref, data);
  const snapshot = o.serialize ? o.serialize(ref) : serializeTerminal(ref, { scrollback });
  const client = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
  if (o.prefix !== undefined) await write(client, o.prefix);
  await write(client, '');
  client.reset();
  await write(client, Buffer.from(snapshot, 'utf8'));
  const diff = diffScreenState(extractScreenState(ref), extractScreenState(client));
  ref.dispose();
  client.dispose();
  return { diff, snapshot };
}

function addonSerialize(t: Term): string {
  const a = new SerializeAddon();
  t.loadAddon(a);
  return a.serialize();
}

/** What real programs do that a snapshot must carry (issue 11, point 3). */
const CASES: Record<string, string> = {
  'plain lines and scrollback': Array.from({ length: 70 }, (_, i) => `line ${i}`).join('\r\n'),
  'colours: 16, 256, truecolour, flags, left unclosed': '\x1b[31mred \x1b[1;42mbold on green\x1b[0m \x1b[38;5;208m256 \x1b[48;2;10;20;30mtrue\r\nstill set',
  'pen stays out of the alternate screen (vim)': 'shell$ \x1b[?1049h\x1b[H\x1b[2J\x1b[7m"f.txt" 1L\x1b[27m\x1b[2;1H~\x1b[24;1H\x1b[7m-- INSERT --',
  'after :q the shell pen is its own': 'shell$ \x1b[32m\x1b[?1049h\x1b[7mvim\x1b[?1049l ok',
  'scroll region (apt progress bar)': 'Unpacking a\r\n\x1b7\x1b[0;7r\x1b8\x1b[1A\r\nUnpacking b\r\n\x1b7\x1b[8;0f\x1b[42mProgress: [ 40%]\x1b[49m [#####.....]\x1b8',
  'cursor after a full-width row and CUP (pending wrap)': 'x'.repeat(30) + '\x1b[3;5H',
  'pending wrap at the end': 'y'.repeat(30),
  'pending wrap after a wide character': 'y'.repeat(28) + '中',
  'modes: cursor hidden, mouse 1002+1006, bracketed paste, app cursor/keypad, style, autowrap, insert': '\x1b[?25l\x1b[?1002h\x1b[?1006h\x1b[?2004h\x1b[?1h\x1b=\x1b[3 q\x1b[?7l\x1b[4h',
  'mouse 1000, 1003, x10, SGR pixels': '\x1b[?1003h\x1b[?1016h',
  'origin mode in a region': '\x1b[3;6r\x1b[?6h\x1b[2;4Hin region',
  'DEC special graphics borders (ESC(0), charset left on': '\x1b(0lqqqk\r\nx   x\r\nmqqqj',
  'DEC special graphics, back to ASCII': '\x1b(0lqk\x1b(B lqk',
  'G1 with SO/SI, left shifted out': '\x1b)0\x0elqk\x0fabc\x0e',
  'saved cursor (DECSC) with pen and charset': 'abc\x1b[3;4H\x1b[35m\x1b(0\x1b7\x1b(B\x1b[m\x1b[1;1H',
  'tab stops': '\x1b[3g\x1b[5G\x1bH\x1b[12G\x1bH\r\ta\tb',
  'OSC 8 hyperlinks, with and without id, one left open': 'see \x1b]8;;https://example.com/\x07a link\x1b]8;;\x07 and \x1b]8;id=n1;http://x.y/a;b\x07two\x1b]8;;\x07 \x1b]8;;https://open/\x07open',
  'underline styles and colours': '\x1b[4:3mcurly\x1b[4:0m \x1b[4:4;58;5;196mdotted\x1b[4:5;58;2;1;2;3mdashed\x1b[21mdouble\x1b[0m',
  'wide and combining characters after SGR': '\x1b[31m中文\x1b[32m字\x1b[0me\u0301a\u0308 \x1b[33m👍🏽 👨\u200d👩\u200d👧\x1b[0m',
  'a wide character wrapped in colour leaves a coloured empty cell': '\x1b[41mab' + '中'.repeat(16) + '\x1b[0m',
  'overwriting half a wide character': '中文\x1b[1;2H\x1b[7mx\x1b[0m',
  'erased cells with a background': '\x1b[44m\x1b[2K\x1b[0mtext\x1b[45m\x1b[K\r\n0123456789\x1b[2;3H\x1b[46m\x1b[4X\x1b[0m',
  'window and icon title': '\x1b]1;icon\x07\x1b]2;a title\x07prompt',
  'selective erase protection (DECSCA)': '\x1b[1"qprotected\x1b[0"q no \x1b[1"q',
  'progress bars with \\r and ESC[1A': `${Array.from({ length: 10 }, (_, i) => `\r${i * 10}% [${'#'.repeat(i)}${' '.repeat(10 - i)}]`).join('')}\r\na\r\nb\r\n${Array.from({ length: 5 }, (_, i) => `\x1b[1A\r\x1b[Kstep ${i}\r\n`).join('')}`,
  'tput smcup/rmcup': 'before\x1b[?1049h\x1b[Hin alt\x1b[?1049lafter',
  'a saved cursor inside the alternate screen survives leaving it': 'x\x1b[?1049h\x1b[5;5H\x1b7\x1b[?1049l',
  'LNM': '\x1b[20hlnm\n',
  'a wrapped line whose end was erased': 'abc' + ' '.repeat(27) + 'd\x1b[1;4H\x1b[K',
  'a wrapped line starting with erased cells': 'x'.repeat(35) + '\x1b[2;1H\x1b[1K',
  'an empty cell in the pen at the last column': '\x1b[1;29H\x1b[7m中\x1b[1;30Hz\x1b[0m',
  'a lone combining mark starting a wrapped line': 'x'.repeat(30) + '\x1b[2;1H\u0301',
  'the alternate screen scrolled a wrapped line to its top': '\x1b[?1049h' + 'z'.repeat(45) + '\r\n'.repeat(8),
};

describe('terminals: the snapshot restores what real programs use', () => {
  for (const [name, data] of Object.entries(CASES)) {
    it(name, async () => {
      const { diff, snapshot } = await roundTrip(data);
      assert.deepEqual(diff, [], `snapshot ${JSON.stringify(snapshot)}`);
    });
  }

  it('@xterm/addon-serialize alone gets these wrong (why snapshot.ts exists; if this fails, the addon may have caught up)', async () => {
    const wrong: string[] = [];
    for (const name of ['pen stays out of the alternate screen (vim)', 'after :q the shell pen is its own', 'scroll region (apt progress bar)', 'cursor after a full-width row and CUP (pending wrap)', 'DEC special graphics borders (ESC(0), charset left on', 'saved cursor (DECSC) with pen and charset', 'tab stops', 'OSC 8 hyperlinks, with and without id, one left open', 'underline styles and colours', 'modes: cursor hidden, mouse 1002+1006, bracketed paste, app cursor/keypad, style, autowrap, insert']) {
      const { diff } = await roundTrip(CASES[name]!, { serialize: addonSerialize });
      if (diff.length) wrong.push(name);
    }
    assert.equal(wrong.length, 10, `the addon restored some: only wrong for ${wrong.join('; ')}`);
  });

  it('sizes from 2×1 up, with and without scrollback', async () => {
    for (const [cols, rows, scrollback] of [[2, 1, 0], [3, 2, 0], [5, 3, 5], [80, 24, 2000]] as const) {
      const data = 'ab中\x1b[31mcd\r\nxyz' + 'w'.repeat(cols * 2) + '\x1b[44m\x1b[K';
      const { diff } = await roundTrip(data, { cols, rows, scrollback });
      assert.deepEqual(diff, [], `${cols}×${rows}`);
    }
  });
});

describe('terminals: a snapshot lands on a clean parser', () => {
  // The client's last frame ended inside each parser state (and inside a character).
  const PREFIXES: Record<string, string | Uint8Array> = {
    'CSI parameters': '\x1b[3',
    'CSI intermediate': '\x1b[1$',
    'OSC string (title)': '\x1b]0;half a tit',
    'OSC 8 hyperlink': '\x1b]8;;http://half',
    'DCS string (DECRQSS)': '\x1bP$q',
    'DCS passthrough': '\x1bP1;2|some data',
    'ESC intermediate (charset designation)': '\x1b(',
    'ESC alone': '\x1b',
    'APC/PM/SOS string': '\x1b_application',
    'partial UTF-8 (E2 80 of …)': new Uint8Array([0x61, 0xe2, 0x80]),
    'partial 4-byte UTF-8': new Uint8Array([0xf0, 0x9f, 0x98]),
  };
  const screen = 'first line wraps because it is long enough to wrap\r\n\x1b[1mbold\x1b[0m and a title\x1b]2;T\x07\r\n中文…';
  for (const [name, prefix] of Object.entries(PREFIXES)) {
    it(`after ${name}`, async () => {
      const { diff } = await roundTrip(screen, { prefix });
      assert.deepEqual(diff, []);
    });
  }

  it('the snapshot starts with CAN (what aborts them all), and only with CAN it is whole', async () => {
    const { snapshot } = await roundTrip(screen);
    assert.equal(snapshot[0], ABORT_SEQUENCE);
    // Without it, the snapshot's first ESC still ends the old sequence, but as if it were complete:
    // a half hyperlink becomes the pen's link, and every cell printed next links to it.
    const withoutAbort = (t: Term) => serializeTerminal(t).slice(1);
    const broken = await roundTrip(screen, { prefix: '\x1b]8;;http://half', serialize: withoutAbort });
    assert.ok(broken.diff.some((l) => l.includes(';http://half')), broken.diff.join('\n'));
  });
});

describe('terminals: a snapshot taken inside a sequence leaves the viewer inside it too', () => {
  // The snapshot is taken at a PTY read boundary: the output after it finishes the sequence.
  const SPLITS: [string, string][] = [
    ['text \x1b[38;5;20', '8mcoloured'],
    ['\x1b[?10', '49halt screen'],
    ['\x1b[38:2::10:2', '0:30mX'],
    ['\x1b[4:', '3mcurly'],
    ['\x1b[1', ' qcursor style'],
    ['\x1b]0;half a ti', 'tle\x07after'],
    ['\x1b]8;;http://exa', 'mple/\x07link\x1b]8;;\x07 plain'],
    ['\x1b]', '2;t\x07x'],
    ['\x1b(', '0lqk'],
    ['\x1b', '[1mbold'],
    ['\x1b_an ap', 'c string\x1b\\visible'],
    ['\x1bP$', 'qm\x1b\\after dcs'],
    ['\x1b[0', '<ignored mthen text'],
  ];
  for (const [before, rest] of SPLITS) {
    it(JSON.stringify(before), async () => {
      const cols = 30;
      const rows = 6;
      const ref = new Terminal({ cols, rows, allowProposedApi: true });
      await write(ref, 'screen\r\n' + before + rest);
      const mirror = new Terminal({ cols, rows, allowProposedApi: true });
      await write(mirror, 'screen\r\n' + before);
      const snapshot = serializeTerminal(mirror);
      const client = new Terminal({ cols, rows, allowProposedApi: true });
      await write(client, '\x1b]0;stale');
      await write(client, '');
      client.reset();
      await write(client, Buffer.from(snapshot));
      await write(client, rest);
      assert.deepEqual(diffScreenState(extractScreenState(ref), extractScreenState(client)), [], JSON.stringify(snapshot));
      for (const t of [ref, mirror, client]) t.dispose();
    });
  }
});

describe('terminals: snapshot round trips of random output (seeded)', () => {
  it('300 random mixes of printing, SGR, cursor moves, erasing, scrolling, regions, modes, charsets and links', async () => {
    let s = 11;
    const rnd = () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 4294967296;
    };
    const R = (n: number) => Math.floor(rnd() * n);
    const sgr = () => `\x1b[${[0, 1, 2, 3, 4, 7, 9, 53, 31, 42, 95, 105, `38;5;${R(256)}`, `48;2;1;2;${R(256)}`, `4:${R(6)}`, `58;5;${R(256)}`, 24, 27, 39, 49][R(20)]}m`;
    const P: (() => string)[] = [
      () => 'abc', () => 'x'.repeat(R(30)), () => '中', () => '字文', () => 'e\u0301', () => '\u0301', () => '👍', () => '\r\n', () => '\n', () => '\r', () => '\t', () => '\b',
      sgr, sgr, sgr, () => `\x1b[${R(8)};${R(25)}H`, () => `\x1b[${R(25)}G`, () => `\x1b[${R(3)}K`, () => `\x1b[${R(2)}J`, () => `\x1b[${R(6)}X`, () => `\x1b[${R(4)}@`, () => `\x1b[${R(4)}P`,
      () => `\x1b[${R(3)}L`, () => `\x1b[${R(3)}M`, () => `\x1b[${R(3)}S`, () => `\x1b[${R(3)}T`, () => `\x1b[${R(7)};${R(7)}r`, () => '\x1b[r', () => '\x1b7', () => '\x1b8', () => '\x1bM', () => '\x1bD',
      () => '\x1b[?1049h', () => '\x1b[?1049l', () => '\x1b[?47h', () => '\x1b[?47l', () => '\x1b(0', () => '\x1b(B', () => '\x1b)0', () => '\x0e', () => '\x0f', () => '\x1b[4h', () => '\x1b[4l',
      () => '\x1b[?7l', () => '\x1b[?7h', () => '\x1b[?6h', () => '\x1b[?6l', () => '\x1bH', () => '\x1b[3g', () => '\x1b[g', () => '\x1b]8;;http://a\x07', () => '\x1b]8;id=1;http://b\x07', () => '\x1b]8;;\x07',
      () => '\x1b[1"q', () => '\x1b[0"q', () => '\x1b[?25l', () => '\x1b[?1000h', () => '\x1b[?1006h', () => `\x1b[${R(7)} q`, () => `\x1b]2;t${R(9)}\x07`, () => '\x1b#8', () => '\x1b[?45h',
    ];
    const failures: string[] = [];
    for (let run = 0; run < 300; run++) {
      let data = '';
      const n = 5 + R(80);
      for (let k = 0; k < n; k++) data += P[R(P.length)]!();
      const cols = 2 + R(40);
      const rows = 2 + R(10);
      // ED 1 in the last column of the bottom row throws inside xterm itself (xterm-guards.ts): not a snapshot matter.
      if (/\x1b\[1J/.test(data)) data = data.replaceAll('\x1b[1J', '\x1b[2J');
      const { diff } = await roundTrip(data, { cols, rows, scrollback: R(3) ? 20 : 0 });
      // Known limits, documented in docs/protocol.md: xterm states no sequence can make again.
      const real = diff.filter(
        (l) =>
          !l.startsWith('charsets.active') && // DECRC set the active charset apart from G0–G3 and the saved one
          !(l.startsWith('cursor.y') && data.includes('?6h')) && // origin mode on with the cursor outside the region
          !(/^normal\.lines\.0:/.test(l) && l.includes('"wrapped":true')), // the top line continues one that left a buffer not full
      );
      if (real.length) failures.push(`${cols}×${rows} ${JSON.stringify(data)}\n  ${real.slice(0, 3).join('\n  ')}`);
    }
    assert.deepEqual(failures.slice(0, 3), []);
  });
});

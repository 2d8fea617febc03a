/**
 * Property test of the mirror fast-forward: a terminal fed every byte and one fed only what the
 * fast-forward posts end in the same state (serialized buffer with scrollback, cursor, active
 * buffer, and every cell's content and attributes, wrap flags and the pen, read from xterm's cell
 * data). Seeded, so a failure is reproducible from its case number.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import serializeModule from '@xterm/addon-serialize';
import headless from '@xterm/headless';
import { FastForward } from './fast-forward.ts';

const { Terminal } = headless;
const { SerializeAddon } = serializeModule;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Term = InstanceType<typeof Terminal>;

function makeTerm(cols: number, rows: number, scrollback: number): { term: Term; ser: InstanceType<typeof SerializeAddon> } {
  const term = new Terminal({ cols, rows, scrollback, allowProposedApi: true, logLevel: 'off' });
  const ser = new SerializeAddon();
  term.loadAddon(ser);
  return { term, ser };
}

const flushed = (t: Term) => new Promise<void>((r) => t.write('', r));

/** Cell data as xterm stores it (content, fg, bg, underline style and colour, link), beyond what serialize shows. */
interface RawCell {
  content: number;
  fg: number;
  bg: number;
  extended: { _ext: number; _urlId: number };
}

function cells(term: Term): string[] {
  const out: string[] = [];
  for (const buf of [term.buffer.normal, term.buffer.alternate]) {
    for (let y = 0; y < buf.length; y++) {
      const line = buf.getLine(y)!;
      let row = line.isWrapped ? 'W' : '-';
      for (let x = 0; x < term.cols; x++) {
        const c = line.getCell(x) as unknown as RawCell;
        row += ` ${c.content.toString(16)}/${c.fg.toString(16)}/${c.bg.toString(16)}/${c.extended._ext.toString(16)}/${c.extended._urlId}`;
      }
      out.push(row);
    }
  }
  return out;
}

/** The pen (xterm's current attributes): what the next character would be written with. */
function pen(term: Term): string {
  const a = (term as unknown as { _core: { _inputHandler: { _curAttrData: RawCell } } })._core._inputHandler._curAttrData;
  return `${a.fg}/${a.bg}/${a.extended._ext}/${a.extended._urlId}`;
}

async function state(t: { term: Term; ser: InstanceType<typeof SerializeAddon> }, scrollback: number) {
  await flushed(t.term);
  const b = t.term.buffer.active;
  return { data: t.ser.serialize({ scrollback }), x: b.cursorX, y: b.cursorY, type: b.type, len: t.term.buffer.normal.length, cells: cells(t.term), pen: pen(t.term) };
}

/** Colours around a line, as programs print them (most reset at the end of the line, some do not). */
const PENS = ['\x1b[32m', '\x1b[01;31m\x1b[K', '\x1b[1;4:3;38;2;1;2;3m', '\x1b[48;5;17m', '\x1b[58;5;3;4m', '\x1b[59m', '\x1b[7;9;53m', '\x1b[0;33m', '\x1b[1m', '\x1b[2;3;21m', '\x1b[38;5;0m', '\x1b[97;100m', '\x1b[6m', '\x1b[4;5;8m'];
// Closers as chalk and friends print them (22-29, 39, 49, 55), and resets.
const PEN_ENDS = ['\x1b[0m', '\x1b[m', '\x1b[m\x1b[K', '\x1b[00m', '', '\x1b[39m', '\x1b[0;32m', '\x1b[K', '\x1b[2K', '\x1b[;m', '\x1b[22m', '\x1b[39;49m', '\x1b[23;24;55m', '\x1b[27;29m', '\x1b[22;39m', '\x1b[24;25;28m'];

const WORDS = ['a', 'hello', 'x'.repeat(7), '中文', '字', '🙂', 'é', 'e\u0301', 'ﾊﾝｶｸ', ' ', '  ', '-', '0123456789'];

/** A random stream: mostly plain lines, sometimes escapes of every kind that matters. */
function stream(rnd: () => number, cols: number, rows: number, scrollback: number, colored: boolean): Buffer {
  const parts: (string | Buffer)[] = [];
  const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)]!;
  const n = 20 + Math.floor(rnd() * 400);
  for (let k = 0; k < n; k++) {
    const r = rnd();
    if (r < 0.8) {
      // A plain line: words up to ~2.5 × cols, then an end of line.
      let line = '';
      const target = Math.floor(rnd() * cols * 2.5);
      while (line.length < target) line += pick(WORDS);
      if (rnd() < 0.1) line += '\t' + pick(WORDS);
      if (rnd() < 0.05) line += '\b\b' + pick(WORDS);
      if (rnd() < 0.02) line += '\x07';
      if (colored && rnd() < 0.6) line = pick(PENS) + line.slice(0, line.length >> 1) + pick([...PEN_ENDS, pick(PENS)]) + line.slice(line.length >> 1) + pick(PEN_ENDS);
      parts.push(line + pick(['\r\n', '\r\n', '\r\n', '\n', '\r', '\n\r', '\r\n\r\n']));
      // Bursts of exactly rows + scrollback + 1 (and around 2·rows + scrollback + 1) short lines.
      if (rnd() < 0.08) {
        const m = pick([rows + scrollback + 1, 2 * rows + scrollback, 2 * rows + scrollback + 1, 2 * rows + scrollback + 2]);
        for (let j = 0; j < m; j++) parts.push(colored && rnd() < 0.5 ? `${pick(PENS)}${j}${pick(PEN_ENDS)}\r\n` : `${j}\r\n`);
      }
    } else if (r < 0.86) parts.push(pick(['\x1b[31m', '\x1b[1;4;38;5;202m', '\x1b[0m', '\x1b[48;2;10;20;30m', '\x1b[7m', '\x1b[m']));
    else if (r < 0.91) parts.push(pick([`\x1b[${1 + Math.floor(rnd() * rows)};${1 + Math.floor(rnd() * cols)}H`, '\x1b[H', '\x1b[2A', '\x1b[3C', '\x1b[K', '\x1b[2J', '\x1bM', '\x1bD', '\x1b[L', '\x1b[3M']));
    else if (r < 0.94) parts.push(pick(['\x1b[?1049h', '\x1b[?1049l', '\x1b[?47h', '\x1b[?47l', '\x1b[?1047h', '\x1b[?1047l']));
    else if (r < 0.96) parts.push(pick(['\x1b[2;4r', `\x1b[1;${rows}r`, '\x1b[r', '\x1b[3r', '\x1b[!p', '\x1b[?45h', '\x1b[?45l', '\x1b[?7l', '\x1b[?7h', '\x1b[4h', '\x1b[4l', '\x1b[20h', '\x1b[20l', '\x1b[?6h', '\x1b[?6l', '\x1bc']));
    else if (r < 0.97) parts.push(pick(['\x1b]8;;https://example.com\x1b\\', '\x1b]8;;\x1b\\', '\x1b[1"q', '\x1b[0"q', '\x1b[s', '\x1b[u', '\x1b[?1048h', '\x1b[?1048l', '\x1b]0;a title\nwith\r\nnewlines\x07', '\x1b]2;t\x1b\\', '\x1bP1$qm\r\n\r\n\x1b\\', '\x1b_apc\n\n\x1b\\', '\x1b(0lqk\r\n\x1b(B', '\x0e', '\x0f', '\x1b7', '\x1b8', '\x1bH', '\x1b[3g']));
    else if (r < 0.98) parts.push(pick([Buffer.from([0xc2, 0x9b, 0x33, 0x31, 0x6d]), Buffer.from([0xc2, 0x9d]), Buffer.from('x\u0085y'), Buffer.from([0xe4, 0x0d, 0x0a]), Buffer.from([0xff, 0xfe]), Buffer.from([0xe4, 0xb8]), Buffer.from([0x80, 0x80]), Buffer.from([0x18]), Buffer.from([0x1a]), Buffer.from([0x7f])]));
    else if (r < 0.99) parts.push('\x1b[');
    else parts.push(pick(['x'.repeat(cols - 1) + '中\r\n', 'x'.repeat(cols) + '\r\n', '中'.repeat(cols) + '\r\n']));
  }
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

/** Splits `data` into random chunks (1 to `max` bytes: UTF-8 characters and escapes get split). */
function chunks(rnd: () => number, data: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(rnd() * max);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

async function runCase(seed: number, edge?: { data: Buffer; cols: number; rows: number; scrollback: number; cuts?: number[]; bound?: number; holdAll?: boolean }): Promise<number> {
  const rnd = mulberry32(seed);
  const cols = edge?.cols ?? 8 + Math.floor(rnd() * 30);
  const rows = edge?.rows ?? 2 + Math.floor(rnd() * 8);
  const scrollback = edge?.scrollback ?? Math.floor(rnd() * 25);
  const data = edge?.data ?? stream(rnd, cols, rows, scrollback, seed % 2 === 0);
  let parts: Buffer[];
  if (edge?.cuts) {
    parts = [];
    let prev = 0;
    for (const c of [...edge.cuts, data.length]) {
      parts.push(data.subarray(prev, c));
      prev = c;
    }
  } else parts = chunks(rnd, data, pick(rnd, [3, 17, 64, 300, 2000]));
  const bound = edge?.bound ?? pick(rnd, [16, 100, 1000, 1 << 20]);
  const a = makeTerm(cols, rows, scrollback);
  const b = makeTerm(cols, rows, scrollback);
  const ff = new FastForward(cols, rows, scrollback, bound, (d) => b.term.write(new Uint8Array(d)));
  const holdP = rnd();
  for (const p of parts) {
    a.term.write(new Uint8Array(p));
    ff.write(p, edge?.holdAll || rnd() < holdP + 0.3);
    assert.ok(ff.heldBytes <= bound, `held ${ff.heldBytes} bytes over the bound ${bound}`);
  }
  ff.flush();
  const [sa, sb] = await Promise.all([state(a, scrollback), state(b, scrollback)]);
  a.term.dispose();
  b.term.dispose();
  assert.deepEqual(sb, sa, `case ${seed} (cols ${cols} rows ${rows} scrollback ${scrollback}, skipped ${ff.skippedBytes} of ${data.length} bytes)`);
  return ff.skippedBytes;
}

function pick<T>(rnd: () => number, a: T[]): T {
  return a[Math.floor(rnd() * a.length)]!;
}

describe('terminals: mirror fast-forward', () => {
  it('random streams, plain and coloured: the fast-forwarded mirror equals one fed every byte (600 cases)', async () => {
    let skipped = 0;
    const casesSkipping = [0, 0];
    for (let seed = 1; seed <= 600; seed++) {
      const s = await runCase(seed);
      skipped += s;
      // Even seeds colour their lines.
      if (s > 0) casesSkipping[seed % 2]!++;
    }
    assert.ok(casesSkipping[1]! > 75, `only ${casesSkipping[1]} plain cases skipped anything`);
    assert.ok(casesSkipping[0]! > 75, `only ${casesSkipping[0]} coloured cases skipped anything`);
    process.stdout.write(`# ${casesSkipping[1]} of 300 plain and ${casesSkipping[0]} of 300 coloured cases skipped output (${skipped} bytes)\n`);
  });

  it('a long plain flood keeps the held window and the cut candidates within their bounds, and a flush empties them', () => {
    for (const [rows, scrollback] of [[24, 0], [24, 2000], [100, 100_000]] as const) {
      const bound = 512 * 1024;
      let posted = 0;
      const ff = new FastForward(80, rows, scrollback, bound, (d) => (posted += d.length));
      const maxCand = 2 * Math.max(1024, (2 * rows + scrollback) / 32 + 2);
      let peakCand = 0;
      // 40 MB of short lines, as a PTY hands them out (LF → CR LF, 4 KiB reads).
      const block = Buffer.from('12345\r\n'.repeat(4096 / 7), 'latin1');
      for (let i = 0; i < 40e6 / block.length; i++) {
        ff.write(block, true);
        assert.ok(ff.heldBytes <= bound, `held ${ff.heldBytes} over ${bound}`);
        peakCand = Math.max(peakCand, ff.candidateEntries);
      }
      assert.ok(peakCand <= maxCand, `rows ${rows}, scrollback ${scrollback}: ${peakCand} candidate entries, bound ${maxCand}`);
      ff.flush();
      assert.equal(ff.heldBytes, 0);
      assert.equal(ff.candidateEntries, 0);
      assert.ok(posted + ff.skippedBytes > 39e6, 'every byte posted or skipped');
    }
  });

  it('floods of coloured lines that close their colours and of lines longer than the held window allows in LFs are skipped; a colour left set is parsed in full', () => {
    const styles: [string, string, boolean][] = [
      // 2·40 + 2000 + 1 LFs of these would not fit in the 512 KiB window; their wraps count too.
      ['JSON log lines, 1,000 chars', `{"level":"info","msg":"${'m'.repeat(960)}"}\r\n`, true],
      ['minified, 20,000 chars', `${'x'.repeat(20_000)}\r\n`, true],
      ['ls --color', '\x1b[0m\x1b[01;34mdirectory\x1b[0m  file.txt\r\n', true],
      ['grep --color', 'src/a.ts:\x1b[01;31m\x1b[Kmatch\x1b[m\x1b[K rest of the line\r\n', true],
      ['cargo', '\x1b[0m\x1b[1m\x1b[32m   Compiling\x1b[0m keel v0.1.0\r\n', true],
      ['chalk (closes each colour, never resets)', '\x1b[32m✔\x1b[39m passes \x1b[2m(3 ms)\x1b[22m \x1b[1m\x1b[41mbold\x1b[49m\x1b[22m\r\n', true],
      ['a colour left set', '\x1b[32mgreen\x1b[31m red\r\n', false],
      ['a 256-colour index 0 is not a reset', '\x1b[38;5;0mblack\x1b[39m\r\n', false],
    ];
    for (const [name, line, skips] of styles) {
      const bound = 512 * 1024;
      let posted = 0;
      const ff = new FastForward(120, 40, 2000, bound, (d) => (posted += d.length));
      const block = Buffer.from(line.repeat(Math.ceil(65536 / Buffer.byteLength(line))));
      const total = 16 * 1024 * 1024;
      // In 4 KiB pieces, as a PTY hands them out; the held window and the cut candidates stay within their bounds throughout.
      const maxCand = 2 * Math.max(1024, (2 * 40 + 2000) / 32 + 2);
      for (let done = 0; done < total; done += block.length)
        for (let o = 0; o < block.length; o += 4096) {
          ff.write(block.subarray(o, o + 4096), true);
          assert.ok(ff.heldBytes <= bound, `${name}: held ${ff.heldBytes} over ${bound}`);
          assert.ok(ff.candidateEntries <= maxCand, `${name}: ${ff.candidateEntries} candidates over ${maxCand}`);
        }
      ff.flush();
      assert.equal(ff.heldBytes, 0);
      if (skips) assert.ok(ff.skippedBytes > 0.8 * total, `${name}: skipped ${ff.skippedBytes} of ${total}`);
      else assert.equal(ff.skippedBytes, 0, name);
      // Every byte is posted or skipped; each cut posts at most one 4-byte pen reset.
      const fed = Math.ceil(total / block.length) * block.length;
      assert.ok(posted + ff.skippedBytes >= fed && posted + ff.skippedBytes <= fed + 4 * Math.ceil(fed / 1000), name);
    }
  });

  it('wrapped lines count as line advances exactly where the column is known, never more than xterm makes', async () => {
    const rnd = mulberry32(77);
    for (let c = 0; c < 200; c++) {
      const cols = 2 + Math.floor(rnd() * 20);
      const modes = pick(rnd, ['', '', '', '\x1b[?7l', '\x1b[20h', '\x1b[4h']);
      // Insert mode (4h) shifts cells but wraps like replace mode.
      let tracked = modes === '' || modes === '\x1b[4h';
      let s = modes + 'start\r';
      for (let k = 0; k < 30; k++) {
        const n = pick(rnd, [0, 1, cols - 1, cols, cols + 1, 2 * cols, 2 * cols + 1, Math.floor(rnd() * 3 * cols)]);
        let line = 'x'.repeat(n);
        if (rnd() < 0.3) line = `\x1b[32m${line.slice(0, n >> 1)}\x1b[39m\x1b[K${line.slice(n >> 1)}`;
        const odd = rnd() < 0.1 ? pick(rnd, ['\t', '\b', '中', 'e\u0301', '\x07']) : '';
        if (odd && odd !== '\x07') tracked = false;
        s += line + odd + pick(rnd, ['\r\n', '\n', '\r', '\n\r']);
      }
      const term = new Terminal({ cols, rows: 5, scrollback: 10_000, allowProposedApi: true, logLevel: 'off' });
      const ff = new FastForward(cols, 5, 10_000, 1 << 30, () => {});
      const data = Buffer.from(s);
      // The run starts at an unknown column: only what comes after its first CR is counted.
      const firstCr = data.indexOf(0x0d) + 1;
      await new Promise<void>((r) => term.write(data.subarray(0, firstCr), r));
      const before = term.buffer.active.baseY + term.buffer.active.cursorY;
      await new Promise<void>((r) => term.write(data.subarray(firstCr), r));
      ff.write(data, true);
      const made = term.buffer.active.baseY + term.buffer.active.cursorY - before;
      term.dispose();
      assert.ok(ff.runAdvances <= made, `case ${c}: counted ${ff.runAdvances} line advances, xterm made ${made} (cols ${cols}): ${JSON.stringify(s)}`);
      if (tracked && !s.includes('\t') && !s.includes('\b')) assert.equal(ff.runAdvances, made, `case ${c} (cols ${cols}): ${JSON.stringify(s.slice(0, 80))}`);
    }
  });

  it('edge cases: cuts around ESC, split UTF-8, wide characters at the line end, exact line counts, pens across a flood', async () => {
    const rows = 4;
    const scrollback = 5;
    const cols = 10;
    const lines = (n: number, s = 'l') => Array.from({ length: n }, (_, i) => `${s}${i}\r\n`).join('');
    const cases: { data: Buffer; cuts?: number[]; bound?: number; holdAll?: boolean; skips?: boolean }[] = [];
    const exact = rows + scrollback + 1;
    const need = 2 * rows + scrollback + 1;
    for (const n of [exact - 1, exact, exact + 1, need - 1, need, need + 1, 3 * need]) {
      cases.push({ data: Buffer.from('\x1b[31mRED' + 'x'.repeat(25) + '\x1b[H' + lines(n) + 'end') });
      cases.push({ data: Buffer.from('top\r\n\x1b[H' + lines(n, 'ab') + '\x1b[1;3H!') });
    }
    // Cut right before and right after an ESC.
    const withEsc = Buffer.from(lines(need + 3) + '\x1b[32mgreen\r\n' + lines(need + 3) + '\x1b]0;t\x07' + lines(2));
    const esc = withEsc.indexOf(0x1b);
    cases.push({ data: withEsc, cuts: [esc, esc + 1, esc + 2] });
    cases.push({ data: withEsc, cuts: [esc - 1, esc + 1] });
    const osc = withEsc.lastIndexOf(0x1b);
    cases.push({ data: withEsc, cuts: [osc, osc + 2, osc + 5] });
    // UTF-8 split across chunks at every byte of a multi-byte character, inside a flood.
    const utf = Buffer.from(lines(need) + '中🙂é\r\n' + lines(need) + '字\r\n' + lines(need));
    const at = utf.indexOf(Buffer.from('中'));
    for (let k = 1; k <= 9; k++) cases.push({ data: utf, cuts: [at + k] });
    cases.push({ data: utf, cuts: Array.from({ length: 9 }, (_, k) => at + k + 1) });
    // Wide characters at the line end (wrapping early), in a flood.
    const wide = Buffer.from(Array.from({ length: 3 * need }, (_, i) => 'x'.repeat(cols - 1 - (i % 2)) + '中中\r\n').join('') + 'z');
    cases.push({ data: wide });
    // A C1 CSI (U+009B) split across chunks right after a flood.
    const c1 = Buffer.concat([Buffer.from(lines(need + 2)), Buffer.from([0xc2, 0x9b]), Buffer.from('31mred\r\n'), Buffer.from(lines(need + 2))]);
    const c1at = c1.indexOf(0xc2);
    cases.push({ data: c1, cuts: [c1at + 1] });
    // Pens across a flood: closers that do and do not bring the pen back to SGR 0's (a cut relies on it).
    const flood = (line: string) => Array.from({ length: 3 * need }, (_, i) => line.replace('#', String(i))).join('');
    const pens: [string, boolean][] = [
      ['\x1b[97;100m#\x1b[39m\r\n', false], // the background is left set
      ['\x1b[1;2m#\x1b[22m\r\n', true],
      ['\x1b[31;53m#\x1b[55m\r\n', false], // the colour is left set
      ['\x1b[4m#\x1b[21m\x1b[24m\r\n', true],
      ['\x1b[38;5;0m#\x1b[39m\r\n', false], // extended colours are not modelled (and that 0 is no reset)
      ['\x1b[38;5;1;0m#\r\n', false],
      ['\x1b[31m#\x1b[0;1m\r\n', false], // bold is left set
      ['\x1b[3m#\x1b[23m\r\n', true],
      ['\x1b[53m#\x1b[55m\r\n', true],
      ['\x1b[7;8;9m#\x1b[27;28;29m\r\n', true],
      ['\x1b[5m#\x1b[25m\r\n', true],
      ['\x1b[6m#\x1b[0m\r\n', true],
      ['\x1b[41m#\x1b[49m\x1b[K\r\n', true],
      ['\x1b[1m#\x1b[22m\x1b[4:3m\x1b[24m\r\n', false], // sub-parameters are not modelled
      [`\x1b[${'1;'.repeat(40)}22m#\r\n`, false], // more parameters than the scanner keeps (32): not modelled
      [`\x1b[${'1;'.repeat(20)}22m#\r\n`, true],
    ];
    for (const [line, skips] of pens) cases.push({ data: Buffer.from('\x1b[1;31mred\x1b[0m' + flood(line) + 'end'), bound: 1 << 20, holdAll: true, skips });
    // Sequences that set the pen without SGR, then a flood whose own SGRs cancel out.
    for (const [save, restore] of [['\x1b7', '\x1b8'], ['\x1b[s', '\x1b[u'], ['\x1b[?1048h', '\x1b[?1048l'], ['\x1b[?1049h', '\x1b[?1049l'], ['', '\x1b[1"q'], ['', '\x1b[!p'], ['', '\x1bc']]) {
      cases.push({ data: Buffer.from(`\x1b[31;44m${save}\x1b[0m${restore}x` + flood('\x1b[1m#\x1b[22m\r\n') + 'end'), bound: 1 << 20, holdAll: true, skips: false });
    }
    let seed = 10_000;
    for (const c of cases) {
      const skipped = await runCase(seed++, { ...c, cols, rows, scrollback });
      if (c.skips !== undefined) assert.equal(skipped > 0, c.skips, `case ${seed - 1}: ${JSON.stringify(c.data.toString().slice(0, 60))}… skipped ${skipped}`);
    }
  });
});

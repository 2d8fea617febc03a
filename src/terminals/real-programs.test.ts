/**
 * Acceptance (issue 11): real programs run in a real PTY through Keel; then a new viewer connects,
 * and a viewer that fell behind catches up, and each one's screen (every cell's text and
 * attributes, the cursor, modes, charsets, regions, saved cursors…: screen-state.ts) must equal a
 * reference terminal fed every byte the program printed. With the mirror's fast-forward on and off.
 *
 * Viewer A acknowledges and renders everything (its received bytes are the reference). Viewer B
 * never acknowledges on its own: past the (tiny) high watermark it is marked behind and stops
 * getting output — often in the middle of a sequence — and at each check it acknowledges, gets a
 * resync snapshot written over whatever it had, and must then show the same screen.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import headless from '@xterm/headless';
import { diffScreenState, extractScreenState } from './screen-state.ts';
import { shareOf, startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

const { Terminal } = headless;
const COLS = 80;
const ROWS = 24;
const SCROLLBACK = 2000;

interface Ctx {
  a: TestClient;
  /** Types into the program (as viewer A). */
  keys(s: string): void;
  /** Waits until the terminal's screen (the mirror's) matches. */
  screen(re: RegExp, what: string): Promise<void>;
  /** Compares a new viewer and the behind viewer with the reference, now. */
  check(label: string): Promise<void>;
}

interface Program {
  name: string;
  /** Bash run after the viewers are there (in a directory with a small git repository and files). */
  script: string;
  /** Interactive steps; the default waits for the script's end and checks once. */
  drive?: (c: Ctx) => Promise<void>;
}

const DONE = 'echo DONE-$((6*7))';
const done = async (c: Ctx) => {
  await c.screen(/DONE-42/, 'the program to finish');
  await c.check('at the end');
};

const CURSES = String.raw`
import curses, time
def main(s):
    curses.start_color(); curses.use_default_colors()
    curses.init_pair(1, curses.COLOR_YELLOW, curses.COLOR_BLUE)
    curses.init_pair(2, 208, -1)
    curses.curs_set(0)
    s.box()
    s.addstr(1, 2, "curses window", curses.A_BOLD | curses.color_pair(1))
    s.addstr(2, 2, "reverse", curses.A_REVERSE)
    s.addstr(3, 2, "colour 208 … “quoted” 中文", curses.color_pair(2))
    s.hline(4, 1, curses.ACS_HLINE, 30)
    s.addstr(5, 2, "press q")
    s.refresh()
    while s.getch() != ord('q'): pass
curses.wrapper(main)
`;

const SPLIT_UNICODE = String.raw`
import sys, time
o = sys.stdout.buffer
for part in (b'CJK \xe4\xb8\xad\xe6', b'\x96\x87 emoji \xf0\x9f\x91', b'\x8d\xf0\x9f\x8f\xbd family \xf0\x9f\x91\xa8\xe2\x80', b'\x8d\xf0\x9f\x91\xa9 combining e\xcc', b'\x81 \xe2\x80', b'\xa6 \xe2\x80\x94 \xe2\x80\x98x\xe2\x80\x99 \xe2\x80\x9cy\xe2\x80', b'\x9d \xe2\x80\xa2\r\n'):
    o.write(part); o.flush(); time.sleep(0.05)
`;

const MODES = String.raw`
import sys, time
sys.stdout.write('\x1b[?2004h\x1b[?1000h\x1b[?1006h\x1b[?1h\x1b=\x1b[?25l\x1b[4 q\x1b]0;a title\x07modes set\r\n')
sys.stdout.flush()
sys.stdin.readline()
`;

const PROGRAMS: Program[] = [
  { name: 'ls --color', script: `ls --color=always -la; ${DONE}` },
  { name: 'grep with colour', script: `grep --color=always -n -e 'needle' -e 'thread' notes.txt; ${DONE}` },
  { name: 'git log --graph --color', script: `git -c color.ui=always log --graph --decorate --all --format='%h %s %d'; ${DONE}` },
  { name: 'top -b -n1', script: `top -b -n1 -w 80 | head -40; ${DONE}` },
  {
    name: 'vim: open, edit, :q',
    script: 'vim -u DEFAULTS -i NONE -N main.c',
    async drive(c) {
      await c.screen(/main\.c/, 'vim to open the file');
      c.keys('Ohello from vim \u2014 “quoted” 中文\x1b');
      await c.screen(/hello from vim/, 'the edit');
      await c.check('vim open, edited');
      c.keys(':q!\r');
      await c.screen(/keel\$/, 'vim to quit');
      c.keys(`echo after vim; ${DONE}\r`);
      await c.screen(/DONE-42/, 'the shell after vim');
      await c.check('after :q');
    },
  },
  {
    name: 'less',
    script: 'less -R colours.txt',
    async drive(c) {
      await c.screen(/colour line 1\b/, 'less to show the file');
      c.keys('G');
      await c.screen(/\(END\)/, 'less at the end');
      await c.check('in less');
      c.keys('q');
      c.keys(`${DONE}\r`);
      await c.screen(/DONE-42/, 'less to quit');
      await c.check('after less');
    },
  },
  {
    name: 'htop',
    script: 'htop -d 600 --no-mouse',
    async drive(c) {
      await c.screen(/F10\s*Quit/, 'htop to draw');
      await c.check('in htop');
      c.keys('q');
      c.keys(`${DONE}\r`);
      await c.screen(/DONE-42/, 'htop to quit');
      await c.check('after htop');
    },
  },
  {
    name: 'a curses program (python, ACS borders, colours, reverse)',
    script: 'python3 curses_app.py',
    async drive(c) {
      await c.screen(/press q/, 'the curses window');
      await c.check('in the curses program');
      c.keys('q');
      c.keys(`${DONE}\r`);
      await c.screen(/DONE-42/, 'the curses program to quit');
      await c.check('after the curses program');
    },
  },
  { name: 'tput smcup/rmcup', script: `echo before; tput smcup; echo inside the alternate screen; tput cup 5 10; echo here; tput rmcup; echo after; ${DONE}` },
  { name: 'a scroll region left set', script: `printf '\\e[5;15r\\e[5;1H'; for i in $(seq 1 40); do echo "region line $i"; done; printf '\\e[1;1Htop line'; ${DONE}` },
  {
    name: 'an apt-style progress bar (DECSTBM + bottom line)',
    script: `printf '\\e7\\e[0;23r\\e8\\e[1A'; for i in $(seq 1 30); do echo "Unpacking package-$i ..."; printf '\\e7\\e[24;0f\\e[42mProgress: [%3d%%]\\e[49m [%s]\\e8' $((i*3)) "$(printf '#%.0s' $(seq 1 $((i/3+1))))"; done; ${DONE}`,
  },
  { name: 'a \\r progress bar', script: `for i in $(seq 0 5 100); do printf '\\r%3d%% [%-20s]' $i "$(printf '#%.0s' $(seq 0 $((i/5))))"; done; echo; ${DONE}` },
  { name: 'an ESC[1A multi-line progress', script: `printf 'layer a: waiting\\nlayer b: waiting\\n'; for i in $(seq 1 20); do printf '\\e[2A\\rlayer a: %d%%\\e[K\\nlayer b: %d%%\\e[K\\n' $((i*5)) $((i*4)); done; ${DONE}` },
  { name: 'Unicode: CJK, emoji, combining, typographic punctuation split across reads', script: `python3 split_unicode.py; ${DONE}` },
  { name: '256-colour and truecolour left unclosed', script: `printf '\\e[38;5;208m256 colour \\e[48;2;30;60;90mtruecolour, never reset\\n'; ${DONE}` },
  { name: 'OSC 8 hyperlinks, one left open', script: `printf 'see \\e]8;;https://example.com/docs\\e\\\\the docs\\e]8;;\\e\\\\ and \\e]8;id=x1;file:///tmp/a\\e\\\\a file\\e]8;;\\e\\\\ \\e]8;;https://open.example/\\e\\\\open\\n'; ${DONE}` },
  { name: 'DEC special graphics', script: `printf '\\e(0lqqqqk\\nx    x\\nmqqqqj\\e(B ascii again\\n\\e)0\\x0elqk\\x0f'; ${DONE}` },
  {
    name: 'modes: bracketed paste, mouse 1000+1006, app cursor/keypad, hidden cursor, cursor style',
    script: 'python3 modes.py',
    async drive(c) {
      await c.screen(/modes set/, 'the modes');
      await c.check('with the modes set');
      c.keys('\r');
    },
  },
];

function makeWorkdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-programs-'));
  fs.mkdirSync(path.join(dir, 'subdir'));
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  fs.symlinkSync('notes.txt', path.join(dir, 'link'));
  fs.writeFileSync(path.join(dir, 'notes.txt'), Array.from({ length: 30 }, (_, i) => (i % 4 === 0 ? `${i}: a needle in a haystack` : i % 5 === 0 ? `${i}: a thread — “pulled”` : `${i}: plain`)).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'main.c'), '#include <stdio.h>\n\nint main(void) {\n  /* a comment */\n  printf("hello\\n");\n  return 0;\n}\n');
  fs.writeFileSync(path.join(dir, 'colours.txt'), Array.from({ length: 80 }, (_, i) => `\x1b[3${i % 8}mcolour line ${i + 1}\x1b[0m and plain text`).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'curses_app.py'), CURSES);
  fs.writeFileSync(path.join(dir, 'split_unicode.py'), SPLIT_UNICODE);
  fs.writeFileSync(path.join(dir, 'modes.py'), MODES);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, env, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', 'notes.txt');
  git('commit', '-q', '-m', 'first');
  git('checkout', '-q', '-b', 'feature');
  git('add', 'main.c');
  git('commit', '-q', '-m', 'feature work');
  git('checkout', '-q', 'main');
  git('add', 'colours.txt');
  git('commit', '-q', '-m', 'colours on main');
  git('merge', '-q', '--no-ff', '-m', 'merge feature', 'feature');
  return dir;
}

/** Resolves once viewer `v` has had no output for `quietMs` (and has written what it got). */
async function quiet(v: TestClient, quietMs = 400): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor(() => {
    if (v.outputBytes !== last) {
      last = v.outputBytes;
      since = Date.now();
    }
    return Date.now() - since >= quietMs;
  }, 'output to go quiet', 20_000);
  await v.rendered();
}

async function runProgram(srv: TestServer, dir: string, p: Program): Promise<void> {
  // The filler takes the not-acknowledging viewer past the behind margin (high watermark + frame,
  // flow-policy.ts); the pause lets viewer A's acknowledgement arrive, so B — read-only, which never
  // holds the PTY — is behind at the program's first output while A keeps up.
  const { json } = await srv.api('POST', '/api/terminals', { cols: COLS, rows: ROWS, cwd: dir, command: `read -r _; export PS1='keel$ '; seq 1 3000; sleep 0.3; ${p.script}; exec bash --norc -i` });
  const id = json.id as string;
  // A acknowledges on receipt (like a fast browser), so it never lags behind B; waits read the mirror's screen.
  const a = new TestClient(srv, id, { cols: COLS, rows: ROWS, scrollback: SCROLLBACK, render: false });
  const b = new TestClient(srv, id, { cols: COLS, rows: ROWS, scrollback: SCROLLBACK, ack: false, share: await shareOf(srv, id) });
  await Promise.all([a.opened(), b.opened()]);
  await waitFor(() => a.snapshots === 1 && b.snapshots === 1, 'the first snapshots');
  a.input('\r');
  const ctx: Ctx = {
    a,
    keys: (s) => a.input(s),
    screen: (re, what) => waitFor(async () => re.test((await srv.api('GET', `/api/terminals/${id}/screen`)).text), what, 20_000),
    async check(label) {
      await quiet(a);
      const ref = new Terminal({ cols: COLS, rows: ROWS, scrollback: SCROLLBACK, allowProposedApi: true });
      await new Promise<void>((r) => ref.write(Buffer.from(a.text, 'latin1'), r));
      const expected = extractScreenState(ref);
      ref.dispose();
      const c = new TestClient(srv, id, { cols: COLS, rows: ROWS, scrollback: SCROLLBACK });
      await c.opened();
      await waitFor(() => c.snapshots === 1, 'the new viewer\'s snapshot');
      await c.rendered();
      assert.deepEqual(diffScreenState(expected, extractScreenState(c.term)), [], `${p.name}, ${label}: a new viewer's screen`);
      c.close();
      const resyncs = b.snapshots;
      b.sendAck(9_999_999_999);
      await waitFor(() => b.snapshots > resyncs || b.meta?.behind === false, 'the behind viewer to catch up');
      await quiet(b);
      assert.deepEqual(diffScreenState(expected, extractScreenState(b.term)), [], `${p.name}, ${label}: the behind viewer after its resync (${b.snapshots - 1} resyncs)`);
    },
  };
  try {
    await (p.drive ?? done)(ctx);
    assert.ok(b.snapshots > 1, 'the not-acknowledging viewer never fell behind: the resync was not tested');
  } finally {
    a.close();
    b.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  }
}

for (const fastForward of [true, false]) {
  describe(`terminals: real programs, restored exactly (mirror fast-forward ${fastForward ? 'on' : 'off'})`, () => {
    let srv: TestServer;
    let dir: string;
    before(async () => {
      dir = makeWorkdir();
      srv = await startServer({
        terminalShell: '/bin/bash',
        terminalScrollbackLines: SCROLLBACK,
        terminalMirrorFastForward: fastForward,
        terminalHighWatermarkBytes: 1024,
        terminalLowWatermarkBytes: 512,
        terminalFrameBytes: 4096,
      });
    });
    after(async () => {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    for (const p of PROGRAMS) it(p.name, () => runProgram(srv, dir, p));
  });
}

/**
 * The browser UI's pure helpers, tested under Node without a browser: the terminal frame codec,
 * key-bar bytes, reconnect backoff, share links, the memory plot's geometry and the chat's terminal names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NAMES_REFRESH_MS, TerminalNames } from '../../web/src/chat/terminal-names.ts';
import { niceMax, plotGeometry } from '../../web/src/health/plot.ts';
import { connectionKinds } from '../../web/src/health/types.ts';
import { Backoff } from '../../web/src/terminals/backoff.ts';
import { applyCtrl, arrowBytes, KEY_BAR } from '../../web/src/terminals/keys.ts';
import { decodeServerFrame, describeClose, describeExit, encodeAck, encodeInput, encodeResize } from '../../web/src/terminals/protocol.ts';
import { parseShareHash, sharePageUrl } from '../../web/src/terminals/types.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('terminal frames (docs/protocol.md)', () => {
  it('encodes input, resize and ack with their opcodes', () => {
    assert.equal(text(encodeInput('ls\r')), 'ils\r');
    assert.deepEqual([...encodeInput(new Uint8Array([0xff, 0]))], [0x69, 0xff, 0]);
    assert.equal(text(encodeInput('é')), 'i\xc3\xa9', 'typed text is UTF-8');
    assert.deepEqual(JSON.parse(text(encodeResize(120, 40)).slice(1)), { cols: 120, rows: 40 });
    assert.equal(text(encodeResize(1, 2))[0], 'r');
    assert.equal(text(encodeAck(5000)), 'a5000');
    assert.equal(text(encodeAck(12.7)), 'a12', 'integers only');
  });

  it('decodes every server opcode', () => {
    const f = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
    const out = decodeServerFrame(f('o\xc3'));
    assert.equal(out.type, 'output');
    assert.deepEqual(out.type === 'output' && [...out.data], [0xc3], 'output stays bytes (a character may be split)');
    const snap = decodeServerFrame(f('s\x1b[1mX'));
    assert.equal(snap.type === 'snapshot' && text(snap.data), '\x1b[1mX');
    assert.deepEqual(decodeServerFrame(f('x{"code":3,"signal":null}')), { type: 'exit', exit: { code: 3, signal: null } });
    const meta = decodeServerFrame(f('m{"id":"t1","cols":80,"rows":24,"viewers":2,"role":"read-only","behind":false}'));
    assert.equal(meta.type, 'meta');
    assert.equal(meta.type === 'meta' && meta.meta.role, 'read-only');
    assert.equal(meta.type === 'meta' && meta.meta.cols, 80);
    const notice = decodeServerFrame(f('e{"code":"read_only","message":"Read-only"}'));
    assert.equal(notice.type === 'notice' && JSON.parse(notice.text).code, 'read_only');
    assert.deepEqual(decodeServerFrame(f('Zjunk')), { type: 'unknown', op: 0x5a });
    assert.deepEqual(decodeServerFrame(new Uint8Array(0)), { type: 'unknown', op: -1 });
    assert.deepEqual(decodeServerFrame(f('x{not json')), { type: 'exit', exit: { code: null, signal: null } }, 'a bad payload does not throw');
    assert.equal(decodeServerFrame(new Uint8Array(Buffer.from('o1')).buffer).type, 'output', 'ArrayBuffer input');
  });

  it('says which closes are worth retrying', () => {
    assert.equal(describeClose(1000, '').retry, false);
    assert.equal(describeClose(1008, '').retry, false);
    for (const code of [1001, 1006, 1009, 1011]) assert.equal(describeClose(code, '').retry, true, `close ${code}`);
    const limit = describeClose(1013, 'Too many connections: terminal viewers is at its limit of 1');
    assert.deepEqual([limit.retry, limit.limit], [true, true]);
    assert.match(limit.message, /Too many connections/);
    assert.equal(describeExit({ code: 0, signal: null }), 'Process exited.');
    assert.equal(describeExit({ code: 2, signal: null }), 'Process exited with code 2.');
    assert.equal(describeExit({ code: null, signal: 9 }), 'Process exited on signal 9.');
  });
});

describe('key bar bytes', () => {
  it('arrows follow the cursor-key mode, Ctrl+arrow uses the xterm modifier form', () => {
    assert.equal(arrowBytes('up', false), '\x1b[A');
    assert.equal(arrowBytes('left', false), '\x1b[D');
    assert.equal(arrowBytes('up', true), '\x1bOA', 'application cursor mode (vim, less)');
    assert.equal(arrowBytes('right', false, true), '\x1b[1;5C');
  });

  it('sticky Ctrl turns the next character into its control code', () => {
    assert.equal(applyCtrl('c'), '\x03');
    assert.equal(applyCtrl('C'), '\x03');
    assert.equal(applyCtrl('d'), '\x04');
    assert.equal(applyCtrl('['), '\x1b');
    assert.equal(applyCtrl(' '), '\x00');
    assert.equal(applyCtrl('?'), '\x7f');
    assert.equal(applyCtrl('cd'), '\x03d', 'one-shot: only the first character');
    assert.equal(applyCtrl('é'), 'é', 'no control form: unchanged');
    assert.equal(applyCtrl(''), '');
  });

  it('has the keys a phone keyboard lacks', () => {
    const labels = KEY_BAR.map((k) => k.label);
    for (const l of ['Esc', 'Tab', 'Ctrl', '←', '↑', '↓', '→', '|', '~']) assert.ok(labels.includes(l), l);
    assert.equal(KEY_BAR.find((k) => k.label === 'Esc')?.bytes, '\x1b');
    assert.equal(KEY_BAR.find((k) => k.label === 'Tab')?.bytes, '\t');
  });
});

describe('reconnect backoff', () => {
  it('doubles from the base to the cap, with jitter below the nominal delay', () => {
    const b = new Backoff({ baseMs: 500, capMs: 10_000, jitter: 0.5 }, () => 0);
    assert.deepEqual(Array.from({ length: 8 }, () => b.next()), [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    b.reset();
    assert.equal(b.next(), 500);
    const j = new Backoff({ baseMs: 500, capMs: 10_000, jitter: 0.5 }, () => 0.999);
    assert.ok(j.next() >= 250);
    for (let i = 0; i < 100; i++) assert.ok(j.next() <= 10_000, 'never above the cap');
  });
});

describe('share links', () => {
  it('round-trips the page link for a read-only viewer', () => {
    const url = sharePageUrl('t_ab/c', 'sig+/=', 'http://127.0.0.1:7717/whatever?x=1');
    assert.equal(url, 'http://127.0.0.1:7717/#/t/t_ab%2Fc?share=sig%2B%2F%3D');
    assert.deepEqual(parseShareHash(new URL(url).hash), { id: 't_ab/c', share: 'sig+/=' });
    assert.equal(parseShareHash('#/terminals/t1'), undefined);
    assert.equal(parseShareHash('#/t/t1?nothing=1'), undefined);
  });
});

describe('health panel helpers', () => {
  it('pairs connection counts with their limits', () => {
    assert.deepEqual(connectionKinds({ live_viewers: 1, max_live_viewers: 16, other: 2 }), [
      { kind: 'live_viewers', count: 1, max: 16 },
      { kind: 'other', count: 2, max: NaN },
    ]);
  });

  it('plots samples inside the box with a nice axis and the warning line when in reach', () => {
    assert.equal(niceMax(0), 1);
    assert.equal(niceMax(86), 100);
    assert.equal(niceMax(180), 200);
    assert.equal(niceMax(230), 250);
    const samples = [0, 1, 2].map((i) => ({ t: 1000 + i * 1000, rss_mb: 80 + i * 10, heap_mb: 40, external_mb: 1, lag_ms: 0, connections: 0, state: 'ok' as const }));
    const g = plotGeometry(samples, 600, 160, 512);
    assert.equal(g.warnY, undefined, '100 MB is far from the 512 MB warning line');
    const pts = g.lines.rss_mb!.split(' ').map((p) => p.split(',').map(Number));
    assert.equal(pts.length, 3);
    assert.deepEqual(pts[0]![0], 0);
    assert.deepEqual(pts[2]![0], 600);
    for (const [, y] of pts) assert.ok(y! >= 0 && y! <= 160);
    const near = plotGeometry(samples.map((s) => ({ ...s, rss_mb: 400 })), 600, 160, 512);
    assert.ok(near.warnY !== undefined && near.warnY >= 0 && near.warnY <= 160);
    assert.deepEqual(plotGeometry([], 600, 160).lines.rss_mb, '');
  });
});

describe("the chat's terminal names", () => {
  it('hold only the terminals that exist: 1,000 refreshes over changing lists never keep a gone one', () => {
    const names = new TerminalNames();
    let next = 0;
    let live: { id: string; name: string }[] = [];
    for (let i = 0; i < 1000; i++) {
      // Terminals come and go: up to 20 at a time, 3,000 distinct ids over the run.
      live = live.filter(() => Math.random() < 0.9);
      while (live.length < 20 && Math.random() < 0.8) live.push({ id: `t${next++}`, name: `tab ${next}` });
      names.replace(live);
      assert.equal(names.size, live.length);
    }
    assert.ok(next > 1000, `only ${next} terminals made`);
    assert.ok(names.size <= 20);
    assert.equal(names.name('t0'), 'terminal t0', 'a gone terminal is back to its short id');
    for (const t of live) assert.equal(names.name(t.id), t.name);
  });

  it('ask for a refresh at most once per NAMES_REFRESH_MS, and never for a known terminal', () => {
    const names = new TerminalNames();
    assert.equal(names.shouldRefresh('a', 1000), true);
    assert.equal(names.shouldRefresh('b', 1000 + NAMES_REFRESH_MS - 1), false, 'within the interval');
    names.replace([{ id: 'a', name: 'build' }]);
    assert.equal(names.shouldRefresh('a', 1000 + 2 * NAMES_REFRESH_MS), false, 'a known terminal');
    assert.equal(names.shouldRefresh('b', 1000 + NAMES_REFRESH_MS), true, 'after the interval');
    assert.equal(names.name('a'), 'build');
  });
});

/**
 * Characters split across PTY reads (issue 11, point 2): xterm's UTF-8 decoder loses one whose
 * kept bytes include 0x80; the session cuts output at character boundaries so neither the mirror
 * nor a viewer ever gets one in two writes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import headless from '@xterm/headless';
import { completeLength, Utf8Carry } from './utf8-boundary.ts';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

const { Terminal } = headless;

async function screenOf(chunks: Uint8Array[]): Promise<string> {
  const t = new Terminal({ cols: 40, rows: 2, allowProposedApi: true });
  for (const c of chunks) await new Promise<void>((r) => t.write(c, r));
  const text = t.buffer.active.getLine(0)!.translateToString(true);
  t.dispose();
  return text;
}

const bytes = (...b: number[]) => new Uint8Array(b);

describe('terminals: UTF-8 characters split across writes', () => {
  it('upstream xterm.js: a character split after a kept 0x80 byte is lost (E2 80 | A6 is "…")', async () => {
    assert.equal(await screenOf([bytes(0x61, 0xe2, 0x80), bytes(0xa6, 0x62)]), 'ab', 'if "a…b": xterm fixed Utf8ToUtf32, and utf8-boundary.ts can go');
    // The same split one byte earlier, and the whole character, come out right.
    assert.equal(await screenOf([bytes(0x61, 0xe2), bytes(0x80, 0xa6, 0x62)]), 'a…b');
    assert.equal(await screenOf([bytes(0x61, 0xe2, 0x80, 0xa6, 0x62)]), 'a…b');
  });

  it('completeLength ends at the last whole character', () => {
    const cases: [number[], number][] = [
      [[], 0],
      [[0x61], 1],
      [[0x61, 0xe2], 1],
      [[0x61, 0xe2, 0x80], 1],
      [[0x61, 0xe2, 0x80, 0xa6], 4],
      [[0xc3], 0],
      [[0xc3, 0xa9], 2],
      [[0xf0, 0x9f, 0x98], 0],
      [[0xf0, 0x9f, 0x98, 0x80], 4],
      [[0x80, 0x80, 0x80], 3], // stray continuation bytes: nothing to wait for
      [[0xff], 1],
      [[0x61, 0xe2, 0x41], 3], // a broken character: passed on as is
    ];
    for (const [input, n] of cases) assert.equal(completeLength(bytes(...input)), n, JSON.stringify(input));
  });

  it('cut at every byte, the chunks carry whole characters and render as the unsplit text', async () => {
    const text = Buffer.from('a…b—c‘d’e“f”g•h\u200di中j👍k', 'utf8');
    const whole = await screenOf([text]);
    for (let cut = 1; cut < text.length; cut++) {
      const carry = new Utf8Carry();
      const out = [carry.push(text.subarray(0, cut)), carry.push(text.subarray(cut))];
      assert.equal(carry.heldBytes, 0);
      assert.deepEqual(Buffer.concat(out), text);
      for (const o of out) assert.equal(completeLength(o), o.length, `cut ${cut}`);
      assert.equal(await screenOf(out), whole, `cut at byte ${cut}`);
    }
  });

  it('flush gives back a character the output ended inside', () => {
    const carry = new Utf8Carry();
    assert.equal(carry.push(Buffer.from([0x61, 0xe2, 0x80])).toString(), 'a');
    assert.deepEqual(carry.flush(), Buffer.from([0xe2, 0x80]));
    assert.equal(carry.flush(), undefined);
  });
});

describe('terminals: typographic text split across PTY reads, through a real PTY', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash' });
  });
  after(async () => {
    await srv.close();
  });

  it('the mirror (screen and snapshot) and the viewer see every character', async () => {
    // Each line is written in parts with a pause between, so the PTY is read in between: the splits
    // fall after E2 80 of …, ” and the zero-width joiner, and inside a 4-byte emoji.
    const program = String.raw`import sys,time
o=sys.stdout.buffer
for i in range(6):
    for part in (b'line %d a\xe2\x80' % i, b'\xa6 b\xe2\x80\x9c\xe2\x80', b'\x9dc\xf0\x9f', b'\x91\x8dd\xe2\x80', b'\x8de\r\n'):
        o.write(part); o.flush(); time.sleep(0.03)
`;
    const script = path.join(srv.dataDir, 'split.py');
    fs.writeFileSync(script, program);
    const { json } = await srv.api('POST', '/api/terminals', { cols: 60, rows: 10, command: `read -r _; python3 ${script}; echo DONE-$((6*7)); exec sleep 60` });
    const id = json.id as string;
    const viewer = new TestClient(srv, id, { cols: 60, rows: 10 });
    await viewer.opened();
    await waitFor(() => viewer.snapshots === 1, 'the first snapshot');
    viewer.input('\r');
    await waitFor(() => viewer.text.includes('DONE-42'), 'the program to finish', 20_000);
    const expected = Array.from({ length: 6 }, (_, i) => `line ${i} a… b“”c👍d\u200de`);

    const screen = (await srv.api('GET', `/api/terminals/${id}/screen`)).text;
    for (const line of expected) assert.ok(screen.includes(line), `the mirror lost characters:\n${screen}`);
    const viewerScreen = await viewer.screen();
    for (const line of expected) assert.ok(viewerScreen.includes(line), `the viewer lost characters:\n${viewerScreen}`);
    const again = new TestClient(srv, id, { cols: 60, rows: 10 });
    await again.opened();
    await waitFor(() => again.snapshots === 1, 'the reconnect snapshot');
    const restored = await again.screen();
    for (const line of expected) assert.ok(restored.includes(line), `the snapshot lost characters:\n${restored}`);
    viewer.close();
    again.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });
});

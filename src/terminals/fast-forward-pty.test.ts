/**
 * The mirror fast-forward with a real PTY: floods of plain, coloured and long lines are mostly
 * skipped by the mirror, and the snapshot a reconnecting viewer gets still equals a terminal fed
 * every byte.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import serializeModule from '@xterm/addon-serialize';
import headless from '@xterm/headless';
import { startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

const { Terminal } = headless;
const { SerializeAddon } = serializeModule;
const SCROLLBACK = 2000;

describe('terminals: mirror fast-forward with a real PTY', () => {
  let srv: TestServer;
  before(async () => {
    // A small mirror backlog bound (held text is at most half of it, 32 KiB, still more than the
    // ~14 KiB of `seq` lines or ~29 KiB of short coloured lines a cut needs after it), so the window
    // is driven past its bound too.
    srv = await startServer({ terminalShell: '/bin/bash', terminalMirrorBacklogBytes: 64 * 1024, terminalScrollbackLines: SCROLLBACK });
  });
  after(async () => {
    await srv.close();
  });

  const producers: [string, string][] = [
    ['seq 1 300000', 'seq 1 300000'],
    // Short coloured lines that reset the pen at their end, as ls/grep/compilers print them
    // (short, so the lines a cut needs fit in the small held window).
    ['300,000 coloured lines', `yes "$(printf '\\033[32mk\\033[m\\033[K')" | head -n 300000`],
  ];
  for (const [label, producer] of producers) it(`${label} to an acking viewer: bytes are skipped, and the reconnect snapshot equals a terminal fed every byte`, () => floodThenReconnect(srv, producer));
});

describe('terminals: mirror fast-forward with a real PTY, default held window', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash', terminalScrollbackLines: SCROLLBACK });
  });
  after(async () => {
    await srv.close();
  });
  const producers: [string, string][] = [
    // 2,049 LFs of these are 2 MB, more than the 512 KiB window: only their wrapped rows make a cut possible.
    ['5,000 lines of 1,000 characters', `yes "$(printf 'x%.0s' $(seq 1 1000))" | head -n 5000`],
    // chalk-style: every colour closed (39, 22), never an SGR 0.
    ['100,000 chalk-style lines', `yes "$(printf '\\033[32m✔\\033[39m passes \\033[2m(3 ms)\\033[22m')" | head -n 100000`],
    // Typographic punctuation (E2 80 xx): PTY reads split some of it right after E2 80, which xterm's decoder loses if written apart (utf8-boundary.ts).
    ['50,000 lines of typographic text', `yes '… “quoted” — ‘single’ • bullet' | head -n 50000`],
  ];
  for (const [label, producer] of producers) it(`${label} to an acking viewer: bytes are skipped, and the reconnect snapshot equals a terminal fed every byte`, () => floodThenReconnect(srv, producer));
});

async function floodThenReconnect(srv: TestServer, producer: string): Promise<void> {
  const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `read -r _; ${producer}; echo "DONE-$((40+2))"; exec sleep 60` });
  const id = json.id as string;
  // Acknowledges on receipt (a fast browser): the PTY runs at full speed, faster than the mirror parses.
  const viewer = new TestClient(srv, id, { render: false, scrollback: SCROLLBACK });
  await viewer.opened();
  await waitFor(() => viewer.snapshots === 1, 'the first snapshot');
  viewer.input('\r');
  await waitFor(() => viewer.text.includes('DONE-42'), 'the flood to end', 60_000);

  const stats = srv.keel.ctx.services.terminals!.stats();
  assert.ok(stats.mirror_skipped_bytes! > 0, `mirror_skipped_bytes ${stats.mirror_skipped_bytes}`);
  const session = srv.keel.ctx.services.terminals!.get(id)!;
  assert.ok(session.mirrorSkippedBytes > 0);
  // Output is quiet now: the held tail is posted and parsed without anyone asking for a snapshot.
  await waitFor(() => session.mirrorHeldBytes === 0 && session.mirrorBacklogBytes === 0, 'the held tail to be parsed once output is quiet', 5_000);

  // Every byte the viewer received (nothing was printed before its first, empty, snapshot).
  const ref = new Terminal({ cols: 80, rows: 24, scrollback: SCROLLBACK, allowProposedApi: true });
  const refSer = new SerializeAddon();
  ref.loadAddon(refSer);
  await new Promise<void>((r) => ref.write(Buffer.from(viewer.text, 'latin1'), r));
  assert.ok(viewer.text.length > 2_000_000);

  const again = new TestClient(srv, id, { scrollback: SCROLLBACK });
  await again.opened();
  await waitFor(() => again.snapshots === 1, 'the reconnect snapshot');
  await again.rendered();
  assert.equal(again.serializer.serialize(), refSer.serialize());
  assert.deepEqual([again.term.buffer.active.cursorX, again.term.buffer.active.cursorY], [ref.buffer.active.cursorX, ref.buffer.active.cursorY]);
  process.stdout.write(`# skipped ${session.mirrorSkippedBytes} of ${viewer.text.length} bytes\n`);
  ref.dispose();
  viewer.close();
  again.close();
  await srv.api('DELETE', `/api/terminals/${id}`);
}

/**
 * Flow control, reconnect exactness and exit flush, with real PTYs and sockets. No timing
 * assertions: every wait is for a condition, bounded by a timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { behindAt, behindMarginBytes, HOLD_BUDGET_MS, HOLD_REFILL_PER_MS } from './flow-policy.ts';
import { forceGc, renderSnapshot, startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

const KiB = 1024;
const MiB = 1024 * 1024;
const HIGH = 128 * KiB;
const LOW = 16 * KiB;
/** node-pty reads the PTY in chunks of at most 64 KiB: the most a viewer can be sent past the high watermark. */
const MAX_CHUNK = 64 * KiB;
const FRAME = 64 * KiB;
const MARKS = { highWatermarkBytes: HIGH, lowWatermarkBytes: LOW, behindMarginBytes: behindMarginBytes(HIGH, FRAME) };

async function mirrorScreen(srv: TestServer, id: string) {
  const s = srv.keel.ctx.services.terminals!.get(id)!;
  const snap = await s.snapshot();
  return { ...(await renderSnapshot(snap.data, snap.cols, snap.rows)), snap };
}

async function clientScreen(c: TestClient) {
  await c.rendered();
  return { serialized: c.serializer.serialize(), cursorX: c.term.buffer.active.cursorX, cursorY: c.term.buffer.active.cursorY };
}

describe('terminals: flow control, reconnect, exit flush', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash', terminalHighWatermarkBytes: HIGH, terminalLowWatermarkBytes: LOW, terminalFrameBytes: FRAME });
  });
  after(async () => {
    await srv.close();
  });

  it('reconnect: the new viewer’s screen equals the server mirror and a viewer that saw every byte, colours and cursor included', async () => {
    const { json } = await srv.api('POST', '/api/terminals', { cols: 90, rows: 20, command: 'bash --norc --noprofile -i' });
    const id = json.id as string;
    const watcher = new TestClient(srv, id, { cols: 90, rows: 20 });
    const first = new TestClient(srv, id, { cols: 90, rows: 20 });
    await Promise.all([watcher.opened(), first.opened()]);
    await waitFor(() => watcher.snapshots > 0, 'first snapshots');
    await first.ready();
    first.input(
      "printf '\\e[31mred\\e[0m \\e[1;4;38;5;202mfancy\\e[0m \\e[48;2;10;20;30;97mtruecolor\\e[0m\\n'; seq 1 150; printf '\\e[7minverse\\e[0m tail-%s' $((3*5)); printf '\\e[5;10Hmoved'\r",
    );
    await waitFor(() => first.text.includes('tail-15'), 'output on the first viewer');
    first.ws.terminate(); // a dropped network: no close frame
    await first.closed();
    watcher.input("printf 'while-away-%s\\n' $((6*7))\r");
    await waitFor(() => watcher.text.includes('while-away-42'), 'output while the first viewer is away');

    const again = new TestClient(srv, id, { cols: 90, rows: 20 });
    await again.opened();
    await waitFor(() => again.snapshots === 1, 'snapshot on reconnect');
    // Quiescent once both viewers render the same thing as the mirror (bounded wait, no sleeps).
    let last = '';
    await waitFor(async () => {
      const [m, a, w] = await Promise.all([mirrorScreen(srv, id), clientScreen(again), clientScreen(watcher)]);
      last = JSON.stringify({ m: [m.cursorX, m.cursorY], a: [a.cursorX, a.cursorY], w: [w.cursorX, w.cursorY] });
      return m.serialized === a.serialized && a.serialized === w.serialized && m.cursorX === a.cursorX && m.cursorY === a.cursorY && a.cursorX === w.cursorX && a.cursorY === w.cursorY;
    }, 'reconnected screen equal to the mirror');
    const a = await clientScreen(again);
    assert.match(a.serialized, /\x1b\[[0-9;]*31[0-9;]*mred/, 'colours survive the snapshot');
    assert.ok(a.serialized.includes('while-away-42'));
    assert.ok(last.length > 0);
    watcher.close();
    again.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('slow viewer: the fast one keeps receiving, the slow one gets at most its behind bound, memory stays bounded, then a correct snapshot', async () => {
    const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'bash --norc --noprofile -i' });
    const id = json.id as string;
    const slow = new TestClient(srv, id, { ack: false });
    const fast = new TestClient(srv, id, { render: false, keepText: false });
    await Promise.all([slow.opened(), fast.opened()]);
    await waitFor(() => fast.snapshots === 1, 'first snapshots');
    await slow.ready();
    forceGc();
    const heapBefore = process.memoryUsage().heapUsed;

    fast.input('yes abcdefghijklmnopqrstuvwxyz0123456789 | head -n 300000; echo flood-$((1+1))-done\r');
    await waitFor(() => fast.outputBytes > 4 * MiB, 'the fast viewer to receive 4 MiB', 60_000);
    // Retained memory during the flood: forced GC while the PTY is still producing.
    forceGc();
    const heapDuring = process.memoryUsage().heapUsed;
    await waitFor(async () => fast.meta !== undefined && srv.keel.ctx.services.terminals!.get(id)!.viewers.size === 2 && (await srv.api('GET', `/api/terminals/${id}/screen`)).text.includes('flood-2-done'), 'the flood to end', 60_000);

    assert.ok(slow.meta?.behind, 'the slow viewer is marked behind');
    // A lagging viewer is never sent more than the owner's behind threshold (the fastest viewer at most one chunk over the high watermark) plus one read.
    const bound = behindAt(MARKS, HIGH + MAX_CHUNK, 'owner') + MAX_CHUNK;
    assert.ok(slow.outputBytes <= bound, `slow viewer received ${slow.outputBytes} bytes, more than its bound ${bound}`);
    assert.ok(fast.outputBytes > 10 * bound, `fast viewer kept receiving (${fast.outputBytes} bytes)`);
    // Megabytes went through frames that gather PTY reads: none is over the bound plus one read.
    const frameBytes = srv.keel.ctx.options.terminalFrameBytes;
    assert.ok(fast.maxOutputFrame <= frameBytes + MAX_CHUNK, `largest output frame ${fast.maxOutputFrame} bytes, bound ${frameBytes} + one read`);
    const growth = heapDuring - heapBefore;
    assert.ok(growth < 16 * MiB, `heap grew by ${(growth / MiB).toFixed(1)} MiB during the flood (bound 16 MiB)`);

    // The slow viewer catches up: acknowledges everything it got, and receives a fresh snapshot.
    await slow.rendered();
    const unacked = srv.keel.ctx.services.terminals!.get(id)!.viewers;
    const sv = [...unacked].find((v) => v.behind)!;
    slow.sendAck(sv.unackedBytes);
    await waitFor(() => slow.snapshots === 2, 'a fresh snapshot for the slow viewer');
    await waitFor(async () => {
      const [m, s] = await Promise.all([mirrorScreen(srv, id), clientScreen(slow)]);
      return m.serialized === s.serialized && m.cursorX === s.cursorX && m.cursorY === s.cursorY;
    }, 'the slow viewer’s screen to equal the mirror');
    assert.equal(slow.meta?.behind, false);
    slow.close();
    fast.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
    t_log(`flood: fast ${(fast.outputBytes / MiB).toFixed(1)} MiB, slow ${(slow.outputBytes / KiB).toFixed(0)} KiB, heap growth ${(growth / MiB).toFixed(2)} MiB`);
  });

  it('exit flush: 2 MB printed right before exit reaches all three equally fast viewers in full before the exit frame, 20 runs out of 20', async () => {
    // Three viewers that acknowledge equally fast pause the PTY together: none may be marked behind
    // and fed a snapshot instead of the bytes (issue 11.4). Even runs acknowledge every frame on
    // receipt; odd runs batch acknowledgements every 50 ms like the browser's timer, each on its own
    // phase, so their unacknowledged counts drift apart by more than a high watermark.
    const N = 290_000;
    let expected = '';
    for (let i = 1; i <= N; i++) expected += `${i}\r\n`;
    expected += 'LAST-LINE\r\n';
    const failures: string[] = [];
    for (let run = 0; run < 20; run++) {
      // The command waits for a line so every viewer is attached before the output starts.
      const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `read -r _; seq 1 ${N}; echo LAST-LINE` });
      const id = json.id as string;
      const viewers = [0, 1, 2].map(() => new TestClient(srv, id, { render: false, ackEveryMs: run % 2 ? 50 : undefined }));
      await Promise.all(viewers.map((v) => v.opened()));
      await waitFor(() => viewers.every((v) => v.snapshots === 1), 'snapshots');
      viewers[0]!.input('\r');
      await waitFor(() => viewers.every((v) => v.exit !== undefined), `exit frames (run ${run})`, 60_000);
      for (const [i, v] of viewers.entries()) {
        if (v.snapshots !== 1 || !v.textAtExit!.endsWith(expected)) failures.push(`run ${run} viewer ${i}: ${v.snapshots} snapshots, ${v.outputBytesAtExit} of ${expected.length} bytes`);
        assert.deepEqual(v.exit, { code: 0, signal: null });
      }
      await Promise.all(viewers.map((v) => v.closed()));
      for (const v of viewers) assert.equal(v.closeCode, 1000);
    }
    assert.deepEqual(failures, [], 'every viewer gets every byte, without a resync');
  });

  it('a viewer 10× slower than two others is marked behind and resynced; the others get every byte without waiting for it', async () => {
    const N = 290_000;
    let expected = '';
    for (let i = 1; i <= N; i++) expected += `${i}\r\n`;
    expected += 'LAST-LINE\r\n';
    const SLOW_BYTES_PER_SEC = 64 * KiB;
    const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `read -r _; seq 1 ${N}; echo LAST-LINE` });
    const id = json.id as string;
    const session = srv.keel.ctx.services.terminals!.get(id)!;
    const fast = [new TestClient(srv, id, { render: false }), new TestClient(srv, id)];
    const slow = new TestClient(srv, id, { ackBytesPerSec: SLOW_BYTES_PER_SEC });
    let slowBehind = 0;
    slow.ws.on('message', (d: Buffer) => {
      if (d[0] === 0x6d && JSON.parse(d.subarray(1).toString()).behind === true) slowBehind++;
    });
    const all = [...fast, slow];
    await Promise.all(all.map((v) => v.opened()));
    await waitFor(() => all.every((v) => v.snapshots === 1), 'snapshots');
    const t0 = Date.now();
    fast[0]!.input('\r');
    await waitFor(() => fast.every((v) => v.exit !== undefined), 'exit frames on the fast viewers', 60_000);
    const elapsed = Date.now() - t0;
    await waitFor(() => slow.exit !== undefined, 'the exit frame on the slow viewer', 60_000);
    for (const [i, v] of fast.entries()) {
      assert.equal(v.snapshots, 1, `fast viewer ${i}: no resync`);
      assert.ok(v.textAtExit!.endsWith(expected), `fast viewer ${i}: got ${v.outputBytesAtExit} of ${expected.length} bytes`);
    }
    assert.ok(slowBehind >= 1, 'the slow viewer was marked behind');
    assert.ok(slow.snapshots >= 2, 'and got a fresh snapshot');
    assert.ok(slow.outputBytes < expected.length / 2, `the slow viewer did not pace the output (${slow.outputBytes} bytes sent to it)`);
    // At its pace the slow viewer needs this long for the whole output; the others finish long before (a hang bound, not a speed test).
    const slowNeedsMs = (expected.length / SLOW_BYTES_PER_SEC) * 1000;
    assert.ok(elapsed < slowNeedsMs / 2, `the fast viewers took ${elapsed} ms, the slow one needs ${slowNeedsMs.toFixed(0)} ms`);
    // The PTY waited for the slow viewer at most its hold budget plus what refilled meanwhile.
    assert.ok(session.heldMs <= HOLD_BUDGET_MS + HOLD_REFILL_PER_MS * (Date.now() - t0) + 100, `held ${session.heldMs} ms for the slow viewer`);
    // Its screen, from the final snapshot, equals that of a viewer that rendered every byte (the mirror keeps less scrollback: compare the screen).
    const visible = async (c: TestClient) => (await c.screen()).split('\n').slice(-24).join('\n');
    assert.equal(await visible(slow), await visible(fast[1]!));
    await Promise.all(all.map((v) => v.closed()));
    t_log(`10x slower viewer: fast viewers ${(expected.length / MiB / (elapsed / 1000)).toFixed(1)} MB/s (${elapsed} ms), slow ${SLOW_BYTES_PER_SEC / KiB} KiB/s; slow got ${slow.outputBytes} bytes, ${slow.snapshots} snapshots; PTY held ${session.heldMs} ms for it`);
  });

  it('exit while paused: output still buffered in a paused PTY when the process exits is delivered before the exit frame', async () => {
    // One viewer acknowledging once a second: the PTY sits paused (over the high watermark) for most of
    // each second, so the process exits while its last output waits in the PTY (node-pty would
    // destroy the socket 200 ms after the exit and lose it).
    const N = 60_000;
    let expected = '';
    for (let i = 1; i <= N; i++) expected += `${i}\r\n`;
    expected += 'LAST-LINE\r\n';
    for (let run = 0; run < 3; run++) {
      const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `read -r _; seq 1 ${N}; echo LAST-LINE` });
      const v = new TestClient(srv, json.id, { render: false, ackEveryMs: 1000 });
      await v.opened();
      await waitFor(() => v.snapshots === 1, 'snapshot');
      v.input('\r');
      await waitFor(() => v.exit !== undefined, `exit frame (run ${run})`, 60_000);
      assert.ok(v.textAtExit!.endsWith(expected), `run ${run}: got ${v.outputBytesAtExit} bytes before exit; tail ${JSON.stringify(v.textAtExit!.slice(-40))}`);
      await v.closed();
    }
  });
});

function t_log(s: string) {
  process.stdout.write(`# ${s}\n`);
}

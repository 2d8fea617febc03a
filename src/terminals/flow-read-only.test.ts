/**
 * A read-only viewer (share link) never paces the PTY (issue 10.5): one that never acknowledges is
 * marked behind and resynced instead, with or without an owner attached. Real PTY, real sockets; the
 * only waits are for conditions, and the rate figures are printed, not asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { renderSnapshot, shareOf, startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

const KiB = 1024;
const HIGH = 128 * KiB;
const LOW = 16 * KiB;
const MiB = 1024 * KiB;
/** `yes 0123456789` prints lines of this many bytes (with the PTY's \r\n). */
const LINE_BYTES = 12;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('terminals: read-only viewers never pace the program', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash', terminalHighWatermarkBytes: HIGH, terminalLowWatermarkBytes: LOW });
  });
  after(async () => {
    await srv.close();
  });

  async function linesPerSecond(id: string, ms = 1_000): Promise<number> {
    const s = srv.keel.ctx.services.terminals!.get(id)!;
    const b0 = s.bytesOut;
    const t0 = performance.now();
    await sleep(ms);
    return Math.round((s.bytesOut - b0) / LINE_BYTES / ((performance.now() - t0) / 1000));
  }

  it('no owner attached: a read-only viewer that never acknowledges is marked behind and the program keeps printing; once it acknowledges it gets a fresh snapshot', async () => {
    const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'yes 0123456789' });
    const id = json.id as string;
    const session = srv.keel.ctx.services.terminals!.get(id)!;
    const before = await linesPerSecond(id);

    const ro = new TestClient(srv, id, { share: await shareOf(srv, id), ack: false, render: false, keepText: false });
    await ro.opened();
    await waitFor(() => ro.meta?.role === 'read-only' && ro.meta.behind === true, 'the read-only viewer to be marked behind');
    const sentWhenBehind = ro.outputBytes;
    // Before the fix the PTY paused here for good (15,900 → 0 lines/s): the output must keep coming.
    const at = session.bytesOut;
    await waitFor(() => session.bytesOut > at + 10 * HIGH, 'the program to keep printing with a non-acknowledging read-only viewer attached');
    const afterAttach = await linesPerSecond(id);
    assert.ok(afterAttach > 0, 'output flows');
    assert.equal(ro.outputBytes, sentWhenBehind, 'nothing more is queued for a behind viewer');
    assert.ok(session.viewers.size === 1 && [...session.viewers][0]!.unackedBytes < 2 * MiB, 'its unacknowledged output is bounded');
    assert.equal(session.heldMs, 0, 'the PTY never waited for it');

    // It catches up: a fresh snapshot, equal to the mirror at that point of the stream.
    const v = [...session.viewers][0]!;
    ro.sendAck(v.unackedBytes);
    await waitFor(() => ro.snapshots === 2, 'a fresh snapshot for the read-only viewer');
    process.stdout.write(`# yes with no owner: ${before} lines/s before, ${afterAttach} lines/s with a non-acknowledging read-only viewer\n`);
    ro.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });

  it('with an owner attached: the read-only viewer falls behind alone, the owner keeps every byte and the PTY never waits for the read-only viewer', async () => {
    const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'read -r _; seq 1 200000; echo LAST-LINE' });
    const id = json.id as string;
    const session = srv.keel.ctx.services.terminals!.get(id)!;
    const owner = new TestClient(srv, id, { render: false });
    const ro = new TestClient(srv, id, { share: await shareOf(srv, id), ack: false });
    await Promise.all([owner.opened(), ro.opened()]);
    await waitFor(() => owner.snapshots === 1 && ro.snapshots === 1, 'snapshots');
    owner.input('\r');
    await waitFor(() => owner.exit !== undefined && ro.exit !== undefined, 'exit frames', 60_000);
    assert.ok(owner.textAtExit!.endsWith('199999\r\n200000\r\nLAST-LINE\r\n'), 'the owner got every byte');
    assert.equal(owner.snapshots, 1);
    assert.ok(ro.snapshots >= 2, 'the read-only viewer was resynced (its final snapshot at the exit)');
    assert.equal(session.heldMs, 0, 'the PTY never waited for the read-only viewer');
    // The final snapshot shows the end of the output.
    assert.match(await ro.screen(), /200000\nLAST-LINE/);
    await Promise.all([owner.closed(), ro.closed()]);
  });

  it('only read-only viewers, all acknowledging: the program runs free and each viewer ends on the exact final screen', async () => {
    const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'read -r _; seq 1 100000; echo LAST-LINE; read -r _' });
    const id = json.id as string;
    const session = srv.keel.ctx.services.terminals!.get(id)!;
    const share = await shareOf(srv, id);
    const viewers = [0, 1].map(() => new TestClient(srv, id, { share }));
    await Promise.all(viewers.map((v) => v.opened()));
    await waitFor(() => viewers.every((v) => v.snapshots === 1), 'snapshots');
    // Nobody can type on a share link: the test types for the owner through the session.
    session.write('\r');
    await waitFor(async () => (await srv.api('GET', `/api/terminals/${id}/screen`)).text.includes('LAST-LINE'), 'the end of the output', 60_000);
    const snap = await session.snapshot();
    const mirror = await renderSnapshot(snap.data, snap.cols, snap.rows);
    for (const v of viewers) {
      await waitFor(async () => {
        await v.rendered();
        return v.serializer.serialize().endsWith(mirror.serialized.slice(-2000)) && v.term.buffer.active.cursorY === mirror.cursorY;
      }, 'the viewer to show the final screen');
    }
    assert.equal(session.paused, false);
    for (const v of viewers) v.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });
});

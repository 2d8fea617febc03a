/**
 * The viewer's gathered output frame (--terminal-frame-bytes): driven past its bound it is sent at
 * once, in order, never larger than the bound plus one read; other frames and close() send what was
 * gathered first; dispose() leaves no timer and sends nothing more. A fake socket stands in for `ws`
 * (only what Viewer calls), so frame sizes and timers are exact.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { decodeServerFrame, type Meta } from './protocol.ts';
import { Viewer, type ViewerHost } from './viewer.ts';

const KiB = 1024;

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CONNECTING = 0;
  readyState = 1;
  bufferedAmount = 0;
  sent: Buffer[] = [];
  closed: { code: number; reason: string } | undefined;
  send(frame: Buffer): void {
    this.sent.push(frame);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
  /** Output payloads sent so far (other frames as their type letter). */
  frames(): (Buffer | string)[] {
    return this.sent.map((f) => {
      const m = decodeServerFrame(f);
      return m.type === 'output' ? m.data : m.type;
    });
  }
}

function host(frameBytes: number): ViewerHost {
  return {
    sizeRange: { minCols: 2, maxCols: 500, minRows: 2, maxRows: 200 },
    highWatermarkBytes: 64 * 1024 * KiB,
    lowWatermarkBytes: KiB,
    frameBytes,
    maxSyncPendingBytes: 64 * 1024 * KiB,
    meta: (): Meta => ({ id: 't', name: 't', cols: 80, rows: 24, viewers: 1, role: 'owner', behind: false, sizeControl: 'none' }),
    snapshot: async () => ({ data: '', cols: 80, rows: 24, cursorX: 0, cursorY: 0 }),
    input: () => {},
    typed: () => {},
    resize: () => {},
    flowChanged: () => {},
    removeViewer: () => {},
  };
}

async function liveViewer(frameBytes: number): Promise<{ v: Viewer; socket: FakeSocket }> {
  const socket = new FakeSocket();
  const v = new Viewer(socket as unknown as WebSocket, host(frameBytes), 'owner');
  v.start();
  await new Promise((r) => setImmediate(r));
  assert.equal(v.state, 'live');
  socket.sent = [];
  return { v, socket };
}

const chunk = (i: number, n: number) => Buffer.alloc(n, 0x61 + (i % 26));
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;

describe('terminals: a viewer gathers output into frames', () => {
  it('past the bound a frame goes out at once; the rest after the event loop turns; every byte once, in order', async () => {
    const { v, socket } = await liveViewer(8 * KiB);
    const sent: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const c = chunk(i, KiB);
      sent.push(c);
      v.output(c, Infinity);
    }
    // 100 KiB in 1 KiB reads with an 8 KiB bound: 12 full frames sent synchronously.
    const sync = socket.frames();
    assert.equal(sync.length, 12);
    for (const f of sync) assert.equal((f as Buffer).length, 8 * KiB);
    await new Promise((r) => setImmediate(r));
    const all = socket.frames() as Buffer[];
    assert.equal(all.length, 13);
    assert.equal(all[12]!.length, 4 * KiB);
    assert.deepEqual(Buffer.concat(all), Buffer.concat(sent));
    assert.equal(v.unackedBytes, 100 * KiB);
    v.dispose();
  });

  it('a frame is never larger than the bound plus one read', async () => {
    const { v, socket } = await liveViewer(8 * KiB);
    for (let i = 0; i < 50; i++) v.output(chunk(i, 3 * KiB), Infinity);
    // Full-size reads right after a frame look like streaming: the last gathering waits up to 2 ms.
    await new Promise((r) => setTimeout(r, 10));
    const sizes = (socket.frames() as Buffer[]).map((f) => f.length);
    assert.ok(Math.max(...sizes) <= 8 * KiB + 3 * KiB, `frames ${sizes.join(',')}`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 150 * KiB);
    v.dispose();
  });

  it('other frames and close() send the gathered output first', async () => {
    const { v, socket } = await liveViewer(64 * KiB);
    v.output(Buffer.from('before-notice'), Infinity);
    v.notice('read_only', 'x');
    v.output(Buffer.from('before-close'), Infinity);
    v.close(1001, 'bye');
    const f = socket.frames();
    assert.deepEqual(
      f.map((x) => (Buffer.isBuffer(x) ? x.toString() : x)),
      ['before-notice', 'notice', 'before-close'],
    );
    assert.equal(socket.closed?.code, 1001);
    v.dispose();
  });

  it('dispose with output gathered (idle or streaming) leaves no timer and sends nothing more', async () => {
    for (let round = 0; round < 50; round++) {
      const { v, socket } = await liveViewer(64 * KiB);
      const base = timers();
      // A full read right after a frame: the streaming path arms a 2 ms timer; a small one, setImmediate.
      v.output(chunk(0, 64 * KiB), Infinity);
      v.output(round % 2 ? chunk(1, 4 * KiB) : Buffer.from('x'), Infinity);
      assert.ok(timers() > base, 'a flush is pending');
      const before = socket.sent.length;
      v.dispose();
      assert.equal(timers(), base, 'the pending flush is cancelled');
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(socket.sent.length, before, 'nothing sent after dispose');
    }
  });
});

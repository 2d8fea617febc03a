/**
 * Flow control of the tunnel mux: a receiver that does not pass bytes on stops the sender at its
 * stream window (a slow phone holds the host's output, nothing piles up); the tunnel window bounds
 * what is in flight across streams; overruns and bogus credit close the tunnel.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { u32 } from './bytes.ts';
import { CHUNK_BYTES, MESSAGE_OVERHEAD, Mux, Op, encode, type OpCode } from './mux.ts';

function pairOfMuxes(o: { streamWindow: number; tunnelWindow: number; release: boolean }) {
  const got: { op: OpCode; stream: number; bytes: number }[] = [];
  let closed: { code: number; reason: string } | undefined;
  let a!: Mux;
  let b!: Mux;
  const windows = { recvTunnelWindow: o.tunnelWindow, recvStreamWindow: o.streamWindow, sendTunnelWindow: o.tunnelWindow, sendStreamWindow: o.streamWindow };
  a = new Mux({ ...windows, channel: { send: (m) => b.receive(m), close: () => {} }, onMessage: () => {} });
  b = new Mux({
    ...windows,
    channel: { send: (m) => a.receive(m), close: (code, reason) => (closed = { code, reason }) },
    onMessage: (op, stream, body, cost) => {
      got.push({ op, stream, bytes: body.length });
      if (o.release) b.release(stream, cost);
    },
  });
  return { a, b, got, closed: () => closed };
}

describe('tunnel mux flow control', () => {
  it('a consumer that does not read stops the sender at the stream window; reading resumes it', () => {
    const window = 8 * (CHUNK_BYTES + MESSAGE_OVERHEAD);
    const { a, b, got } = pairOfMuxes({ streamWindow: window, tunnelWindow: 64 * window, release: false });
    a.openStream(1);
    b.openStream(1);
    let sent = 0;
    let drained = 0;
    const chunk = new Uint8Array(CHUNK_BYTES);
    for (let i = 0; i < 100; i++) {
      if (!a.trySend(Op.data, 1, chunk, () => drained++)) break;
      sent++;
    }
    assert.equal(sent, 8, 'exactly a window of chunks leaves');
    assert.equal(got.length, 8);
    b.release(1, 8 * (CHUNK_BYTES + MESSAGE_OVERHEAD));
    assert.equal(drained, 1, 'the sender is woken once credit is back');
    assert.equal(a.trySend(Op.data, 1, chunk, () => {}), true);
  });

  it('the tunnel window bounds bytes in flight across streams even when every stream has credit', () => {
    const tunnelWindow = 4 * (CHUNK_BYTES + MESSAGE_OVERHEAD);
    let inFlight: Uint8Array[] = [];
    const a = new Mux({ recvTunnelWindow: tunnelWindow, recvStreamWindow: tunnelWindow, sendTunnelWindow: tunnelWindow, sendStreamWindow: tunnelWindow, channel: { send: (m) => inFlight.push(m), close: () => {} }, onMessage: () => {} });
    for (let s = 1; s <= 10; s++) a.openStream(s);
    let sent = 0;
    for (let s = 1; s <= 10; s++) if (a.trySend(Op.data, s, new Uint8Array(CHUNK_BYTES), () => {})) sent++;
    assert.equal(sent, 4);
    assert.equal(inFlight.reduce((n, m) => n + m.length, 0) <= tunnelWindow, true);
    inFlight = [];
  });

  it('closes the tunnel when the peer overruns a window or returns credit it was not given', () => {
    const w = 4 * (CHUNK_BYTES + MESSAGE_OVERHEAD);
    const { b, closed } = pairOfMuxes({ streamWindow: w, tunnelWindow: 64 * w, release: false });
    b.openStream(1);
    for (let i = 0; i < 5; i++) b.receive(encode(Op.data, 1, new Uint8Array(CHUNK_BYTES)));
    assert.match(closed()?.reason ?? '', /overran the window of stream 1/);
    const two = pairOfMuxes({ streamWindow: w, tunnelWindow: w, release: true });
    two.b.receive(encode(Op.window, 0, u32(1)));
    assert.match(two.closed()?.reason ?? '', /more tunnel credit/);
  });
});

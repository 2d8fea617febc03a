import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_DIRECT_LIMITS, dataChannelTransport, parseIceServers, parseSignal, type DataChannelLike } from './direct.ts';

describe('direct path signalling', () => {
  it('accepts the four messages and refuses anything else, oversized descriptions included', () => {
    assert.deepEqual(parseSignal({ t: 'direct' }), { t: 'direct' });
    assert.equal(parseSignal({ t: 'answer', sdp: 'v=0' }).t, 'answer');
    assert.deepEqual(parseSignal({ t: 'bye', reason: 7 }), { t: 'bye', reason: 'the peer gave up the direct path' });
    assert.throws(() => parseSignal({ t: 'offer', sdp: 'x'.repeat(DEFAULT_DIRECT_LIMITS.maxSdpBytes + 1), iceServers: [] }), /too large/);
    assert.throws(() => parseSignal({ t: 'answer' }), /missing/);
    assert.throws(() => parseSignal({ t: 'candidate', candidate: 'x' }), /Unknown signalling/);
    assert.equal(parseSignal({ t: 'bye', reason: 'r'.repeat(1000) }).t === 'bye' && (parseSignal({ t: 'bye', reason: 'r'.repeat(1000) }) as { reason: string }).reason.length, 200);
  });

  it('keeps only stun:/turn: servers, at most the limit', () => {
    const got = parseIceServers(
      [{ urls: 'stun:stun.example:3478' }, { urls: 'http://evil' }, { urls: 'javascript:alert(1)' }, { urls: 'turn:t.example' }, 'x', null, { urls: 'stun:a' }, { urls: 'stun:b' }, { urls: 'stun:c' }],
      4,
    );
    assert.deepEqual(got.map((s) => s.urls), ['stun:stun.example:3478', 'turn:t.example', 'stun:a', 'stun:b']);
    assert.deepEqual(parseIceServers('stun:x', 4), []);
  });
});

describe('data channel transport', () => {
  function fakeChannel() {
    const sent: Uint8Array[] = [];
    const dc: DataChannelLike & { bufferedAmount: number; readyState: string } = {
      readyState: 'open',
      bufferedAmount: 0,
      send: (d) => {
        sent.push(d);
        dc.bufferedAmount += d.length;
      },
      close: () => (dc.readyState = 'closed'),
      onopen: null,
      onclose: null,
      onmessage: null,
    };
    return { dc, sent };
  }

  it('keeps the first frames that arrive before anyone listens, a few, then gives up', () => {
    const { dc } = fakeChannel();
    const t = dataChannelTransport(dc, 1024);
    dc.onmessage!({ data: new Uint8Array([1]).buffer });
    dc.onmessage!({ data: new Uint8Array([2]) });
    const got: number[] = [];
    t.onframe = (f) => got.push(f[0]!);
    assert.deepEqual(got, [1, 2]);
    const { dc: dc2 } = fakeChannel();
    const t2 = dataChannelTransport(dc2, 1024);
    let closed = '';
    t2.onclose = (_c, r) => (closed = r);
    for (let i = 0; i < 5; i++) dc2.onmessage!({ data: new Uint8Array([i]) });
    assert.match(closed, /too much before its handshake/);
  });

  it('gives the path up when its send buffer passes the limit, and on text', () => {
    const { dc, sent } = fakeChannel();
    const t = dataChannelTransport(dc, 1000);
    let closed = '';
    t.onclose = (_c, r) => (closed = r);
    t.send(new Uint8Array(600));
    t.send(new Uint8Array(600));
    assert.equal(sent.length, 1);
    assert.match(closed, /send buffer passed 1000 bytes/);
    assert.equal(dc.readyState, 'closed');
    const { dc: dc2 } = fakeChannel();
    const t2 = dataChannelTransport(dc2, 1000);
    let why = '';
    t2.onclose = (_c, r) => (why = r);
    t2.onframe = () => assert.fail('text is not a frame');
    dc2.onmessage!({ data: 'hello' });
    assert.match(why, /sent text/);
  });
});

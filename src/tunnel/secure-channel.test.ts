import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes, utf8 } from './bytes.ts';
import { TunnelClose } from './errors.ts';
import { importPairingSecret } from './handshake.ts';
import { MAX_EARLY_FRAMES, SecureChannel } from './secure-channel.ts';
import { pipe, type Tap } from './test-pipe.ts';

const HOST = 'h'.repeat(22);
const PAIRING = 'p'.repeat(12);

async function connectPair(o: { tap?: Tap; clientSecret?: Uint8Array; hostSecret?: Uint8Array; clientHost?: string; refuse?: string } = {}) {
  const secret = randomBytes(32);
  const [a, b] = pipe(o.tap);
  const accepted = SecureChannel.accept(b, {
    hostId: HOST,
    lookup: async (id) => (o.refuse ? { refused: o.refuse } : id === PAIRING ? importPairingSecret(o.hostSecret ?? secret) : { refused: 'unknown pairing' }),
    payload: { v: 1, who: 'host' },
    timeoutMs: 2000,
  });
  const client = SecureChannel.connect(a, { hostId: o.clientHost ?? HOST, pairingId: PAIRING, psk: await importPairingSecret(o.clientSecret ?? secret), payload: { v: 1, who: 'browser' }, timeoutMs: 2000 });
  return { client, accepted };
}

function collect(ch: SecureChannel) {
  const got: string[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ch.onclose = (code, reason) => resolve({ code, reason })));
  ch.onmessage = (m) => got.push(new TextDecoder().decode(m));
  return { got, closed };
}

describe('secure channel', () => {
  it('completes the handshake, agrees on the handshake hash, carries messages both ways in order', async () => {
    const { client, accepted } = await connectPair();
    const c = await client;
    const { channel: h, pairingId } = await accepted;
    assert.equal(pairingId, PAIRING);
    assert.deepEqual(c.handshakeHash, h.handshakeHash);
    assert.equal(c.peerPayload.who, 'host');
    assert.equal(h.peerPayload.who, 'browser');
    const hc = collect(h);
    const cc = collect(c);
    for (let i = 0; i < 50; i++) c.send(utf8.encode(`c${i}`));
    await h.confirmed;
    for (let i = 0; i < 50; i++) h.send(utf8.encode(`h${i}`));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(hc.got, Array.from({ length: 50 }, (_, i) => `c${i}`));
    assert.deepEqual(cc.got, Array.from({ length: 50 }, (_, i) => `h${i}`));
  });

  it('keeps frames for a listener not yet attached, up to MAX_EARLY_FRAMES; past it the channel closes with 4004', async () => {
    const { client, accepted } = await connectPair();
    const c = await client;
    const { channel: h } = await accepted;
    c.send(utf8.encode('confirm'));
    await h.confirmed;
    // Within the bound: delivered in order once the listener comes.
    for (let i = 0; i < 10; i++) h.send(utf8.encode(`e${i}`));
    await new Promise((r) => setTimeout(r, 50));
    const got: string[] = [];
    c.onmessage = (m) => got.push(new TextDecoder().decode(m));
    c.flushEarly();
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `e${i}`));

    // A second channel whose listener never comes: the peer cannot make it keep frames for ever.
    const second = await connectPair();
    const c2 = await second.client;
    const { channel: h2 } = await second.accepted;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => (c2.onclose = (code, reason) => resolve({ code, reason })));
    c2.send(utf8.encode('confirm'));
    await h2.confirmed;
    for (let i = 0; i <= MAX_EARLY_FRAMES; i++) h2.send(utf8.encode(`x${i}`));
    const { code, reason } = await closed;
    assert.equal(code, TunnelClose.protocol);
    assert.match(reason, /before this end was listening/);
  });

  it('fails the handshake with a wrong secret, and for another host id (the prologue binds it)', async () => {
    const wrong = await connectPair({ clientSecret: randomBytes(32) });
    await assert.rejects(wrong.accepted, /did not verify/);
    await assert.rejects(wrong.client);
    const other = await connectPair({ clientHost: 'x'.repeat(22) });
    await assert.rejects(other.accepted, /did not verify/);
    await assert.rejects(other.client);
  });

  it('a refusal reaches the browser as a pairing refusal with the host’s reason', async () => {
    const r = await connectPair({ refuse: 'This pairing was revoked.' });
    await assert.rejects(r.accepted, /revoked/);
    await assert.rejects(r.client, (e: Error & { code?: string; closeCode?: number }) => e.code === 'refused' && e.closeCode === TunnelClose.pairingRefused && /revoked/.test(e.message));
  });

  for (const [name, expect, mutate, delivered] of [
    ['a flipped bit', /failed authentication/, (f: Uint8Array, n: number) => (n === 3 ? (f[f.length - 3]! ^= 1, [f]) : [f]), 3],
    ['a replayed frame', /replayed/, (f: Uint8Array, n: number) => (n === 3 ? [f, f] : [f]), 4],
    ['a dropped frame', /missing or out of order/, (f: Uint8Array, n: number) => (n === 3 ? [] : [f]), 3],
  ] as const) {
    it(`closes on ${name} with a clear reason and delivers nothing from it on`, async () => {
      let n = 0;
      const tap: Tap = (f, deliver, dir) => {
        if (dir !== 'a→b' || f[0] !== 3) return deliver(f);
        for (const x of mutate(f, n++)) deliver(x);
      };
      const { client, accepted } = await connectPair({ tap });
      const c = await client;
      const { channel: h } = await accepted;
      const hc = collect(h);
      for (let i = 0; i < 6; i++) c.send(utf8.encode(`m${i}`));
      const closed = await hc.closed;
      assert.equal(closed.code, TunnelClose.security);
      assert.match(closed.reason, expect);
      assert.deepEqual(hc.got, ['m0', 'm1', 'm2', 'm3'].slice(0, delivered));
    });
  }

  it('rejects reordered frames', async () => {
    let held: Uint8Array | undefined;
    let n = 0;
    const tap: Tap = (f, deliver, dir) => {
      if (dir !== 'a→b' || f[0] !== 3) return deliver(f);
      if (n++ === 1) held = f;
      else {
        deliver(f);
        if (held) deliver(held), (held = undefined);
      }
    };
    const { client, accepted } = await connectPair({ tap });
    const c = await client;
    const hc = collect((await accepted).channel);
    for (let i = 0; i < 4; i++) c.send(utf8.encode(`m${i}`));
    const closed = await hc.closed;
    assert.match(closed.reason, /missing or out of order/);
    assert.deepEqual(hc.got, ['m0']);
  });

  it('rejects a frame from another tunnel of the same pairing at the same counter (other keys)', async () => {
    const secret = randomBytes(32);
    const captured: Uint8Array[] = [];
    const one = await connectPair({ clientSecret: secret, hostSecret: secret, tap: (f, deliver, dir) => (dir === 'a→b' && f[0] === 3 && captured.push(f), deliver(f)) });
    const c1 = await one.client;
    await one.accepted;
    c1.send(utf8.encode('one-0'));
    c1.send(utf8.encode('one-1'));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(captured.length, 2);
    let n = 0;
    const two = await connectPair({ clientSecret: secret, hostSecret: secret, tap: (f, deliver, dir) => deliver(dir === 'a→b' && f[0] === 3 && n++ === 1 ? captured[1]! : f) });
    const c2 = await two.client;
    const hc = collect((await two.accepted).channel);
    c2.send(utf8.encode('two-0'));
    c2.send(utf8.encode('two-1'));
    const closed = await hc.closed;
    assert.match(closed.reason, /failed authentication/);
    assert.deepEqual(hc.got, ['two-0']);
  });
});

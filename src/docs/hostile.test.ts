import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { FakeClock } from '../core/clock.ts';
import { controlMessage, MessageType, SyncStep, updateMessage } from './protocol.ts';
import type { DocClient } from './test-client.ts';
import { converged, startDocs, waitFor, type DocsServer } from './test-helpers.ts';

const KiB = 1024;

function frame(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  write(e);
  return encoding.toUint8Array(e);
}

/** A valid update inserting `text` from a fresh Y.Doc (a client id of its own). */
function foreignUpdate(text: string): Uint8Array {
  const d = new Y.Doc();
  d.getText('content').insert(0, text);
  const u = Y.encodeStateAsUpdate(d);
  d.destroy();
  return u;
}

async function closedWith(c: DocClient): Promise<{ code: number; reason: string }> {
  return waitFor(() => c.closeInfo, 'the hostile client to be closed');
}

describe('documents: hostile clients', () => {
  const clock = new FakeClock();
  let srv: DocsServer;
  before(async () => {
    srv = await startDocs(
      {
        maxDocUpdateBytes: 16 * KiB,
        maxWsFrameBytes: 64 * KiB,
        maxDocBytes: 48 * KiB,
        docUpdatesPerSecond: 10,
        docUpdateBurst: 40,
        docRateLimitStrikes: 30,
        maxConnectionsPerDoc: 3,
        maxDocPresenceBytes: 256,
      },
      { clock },
    );
  });
  after(() => srv.close());

  /** A document with one honest editor who has typed `text`. */
  async function withHonest(text = 'honest text'): Promise<{ id: string; honest: DocClient }> {
    const id = await srv.create();
    const honest = await srv.open(id, { name: 'Honest' });
    honest.append(text);
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === text, 'the honest edit');
    return { id, honest };
  }

  /** The document is unchanged for the honest editor, who can still edit and be heard. */
  async function stillIntact(id: string, honest: DocClient, text: string): Promise<void> {
    assert.equal(await srv.mgr.room(id)!.text(), text);
    const other = await srv.open(id);
    await converged([other, honest], text, 'a fresh editor to see the intact text');
    honest.append('+');
    await converged([other, honest], text + '+', 'the honest editor to still be heard');
    await other.close();
  }

  it('garbage frames are closed with 4400 and change nothing', async () => {
    const { id, honest } = await withHonest();
    const garbage: [string, Uint8Array | string][] = [
      ['a text frame', 'hello'],
      ['an unknown message type', frame((e) => encoding.writeVarUint(e, 77))],
      ['a truncated sync frame', Uint8Array.from([MessageType.sync, SyncStep.update, 200])],
      ['an unknown sync step', frame((e) => (encoding.writeVarUint(e, 0), encoding.writeVarUint(e, 9), encoding.writeVarUint8Array(e, new Uint8Array(1))))],
      ['random bytes as an update', frame((e) => (encoding.writeVarUint(e, 0), encoding.writeVarUint(e, SyncStep.update), encoding.writeVarUint8Array(e, Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 255))))],
      ['a garbage state vector', frame((e) => (encoding.writeVarUint(e, 0), encoding.writeVarUint(e, SyncStep.step1), encoding.writeVarUint8Array(e, Uint8Array.from([255, 255, 255]))))],
      ['presence that is not JSON', frame((e) => (encoding.writeVarUint(e, MessageType.awareness), encoding.writeVarUint8Array(e, frame((p) => (encoding.writeVarUint(p, 1), encoding.writeVarUint(p, 5), encoding.writeVarUint(p, 1), encoding.writeVarString(p, '{not json'))))))],
      ['a control message that is not JSON', frame((e) => (encoding.writeVarUint(e, MessageType.keel), encoding.writeVarString(e, '{')))],
      ['an unknown control message', controlMessage({ type: 'format-disk' })],
      ['an empty frame', new Uint8Array(0)],
    ];
    for (const [what, data] of garbage) {
      const bad = await srv.open(id, { name: 'Mallory' });
      bad.sendRaw(data);
      const info = await closedWith(bad);
      assert.equal(info.code, 4400, `${what}: ${JSON.stringify(info)}`);
      assert.equal(bad.lastControl('error')?.code, 'malformed_message', what);
      await bad.close();
    }
    await stillIntact(id, honest, 'honest text');
    await honest.close();
  });

  it('an update over --max-doc-update-bytes is closed with 4413; a frame over --max-ws-frame-bytes with 1009', async () => {
    const { id, honest } = await withHonest();
    const big = await srv.open(id, { name: 'Big' });
    big.sendRaw(updateMessage(foreignUpdate('x'.repeat(20 * KiB))));
    const info = await closedWith(big);
    assert.equal(info.code, 4413);
    assert.equal(big.lastControl('error')?.code, 'update_too_large');
    const huge = await srv.open(id, { name: 'Huge' });
    huge.sendRaw(new Uint8Array(80 * KiB));
    assert.equal((await closedWith(huge)).code, 1009);
    await Promise.all([big.close(), huge.close()]);
    await stillIntact(id, honest, 'honest text');
    await honest.close();
  });

  it('an update to a locked document is refused and the socket stays open', async () => {
    const { id, honest } = await withHonest();
    honest.requestLock();
    await waitFor(() => honest.lock, 'lock');
    const bad = await srv.open(id, { name: 'Mallory' });
    bad.sendRaw(updateMessage(foreignUpdate('vandalism ')));
    await waitFor(() => bad.lastControl('refused'), 'refusal');
    assert.equal(bad.lastControl('refused')!.reason, 'locked');
    assert.equal(bad.lastControl('refused')!.lock.name, 'Honest');
    assert.equal(bad.closeInfo, undefined, 'still connected');
    honest.unlock();
    await waitFor(() => honest.lock === null, 'unlock');
    await bad.close();
    await stillIntact(id, honest, 'honest text');
    await honest.close();
  });

  it('a flood beyond the rate limit is refused (told once), then closed with 4429', async () => {
    const { id, honest } = await withHonest();
    const flood = await srv.open(id, { name: 'Flood' });
    const before = srv.stats().refused_updates;
    // The fake clock never refills the bucket: 40 pass, then 30 strikes close it.
    for (let i = 0; i < 120 && flood.ws.readyState === flood.ws.OPEN; i++) flood.sendRaw(updateMessage(foreignUpdate('f')));
    const info = await closedWith(flood);
    assert.equal(info.code, 4429);
    assert.equal(flood.controls.filter((m) => m.type === 'refused' && m.reason === 'rate_limited').length, 1, 'told once per run, not per message');
    assert.equal(flood.lastControl('error')?.code, 'flooding');
    assert.ok(srv.stats().refused_updates - before >= 29);
    const text = await srv.mgr.room(id)!.text();
    assert.ok(text.endsWith('honest text') || text.includes('honest text'));
    await flood.close();
    await stillIntact(id, honest, text);
    await honest.close();
  });

  it('a pause long enough to refill the bucket forgives the strikes', async () => {
    const { id, honest } = await withHonest();
    const bursty = await srv.open(id, { name: 'Bursty' });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 60; i++) bursty.sendRaw(controlMessage({ type: 'unlock' }));
      await waitFor(() => bursty.controls.filter((m) => m.reason === 'rate_limited').length === round + 1, `refusal in round ${round}`);
      clock.advance(10_000); // refills the bucket (10/s × 10 s ≥ 40)
    }
    assert.equal(bursty.closeInfo, undefined, '3 × 20 strikes with pauses between never reach 30');
    await bursty.close();
    await honest.close();
  });

  it('growth past --max-doc-bytes is refused, the socket stays open', async () => {
    const { id, honest } = await withHonest('');
    const writer = await srv.open(id, { name: 'Writer' });
    for (let i = 0; i < 6; i++) writer.sendRaw(updateMessage(foreignUpdate('y'.repeat(10 * KiB))));
    await waitFor(() => writer.lastControl('refused', (m) => m.reason === 'document_too_large'), 'document_too_large');
    assert.equal(writer.closeInfo, undefined);
    const size = (await srv.mgr.room(id)!.encodeState()).byteLength;
    assert.ok(size <= 48 * KiB, `document stayed under the limit (${size})`);
    await writer.close();
    await honest.close();
  });

  it('presence: oversized states are refused, other clients’ entries cannot be spoofed', async () => {
    const { id, honest } = await withHonest();
    honest.setPresence({ user: { name: 'Honest' } });
    const bad = await srv.open(id, { name: 'Mallory' });
    await waitFor(() => bad.presence.has(honest.doc.clientID), 'presence snapshot on join');
    bad.setPresence({ user: { name: 'x'.repeat(400) } });
    await waitFor(() => bad.lastControl('refused', (m) => m.reason === 'presence_too_large'), 'presence_too_large');
    // Clearing (or overwriting) the honest client's presence by its client id is ignored.
    bad.sendRaw(frame((e) => (encoding.writeVarUint(e, MessageType.awareness), encoding.writeVarUint8Array(e, frame((p) => (encoding.writeVarUint(p, 1), encoding.writeVarUint(p, honest.doc.clientID), encoding.writeVarUint(p, 999), encoding.writeVarString(p, 'null')))))));
    bad.sendRaw(controlMessage({ type: 'lock' })); // a round trip, so the spoof has been handled
    await waitFor(() => bad.lock, 'round trip');
    assert.ok(honest.presence.has(honest.doc.clientID), 'honest presence still there');
    assert.ok(bad.presence.has(honest.doc.clientID));
    await bad.close();
    await honest.close();
  });

  it('over --max-connections-per-doc the upgrade is refused with 503 JSON', async () => {
    const id = await srv.create();
    const cs = [await srv.open(id), await srv.open(id), await srv.open(id)];
    await assert.rejects(srv.open(id), (err: any) => err.status === 503 && JSON.parse(err.body).error === 'too_many_connections');
    await Promise.all(cs.map((c) => c.close()));
  });
});

describe('documents: slow reader', () => {
  it('a client that stops reading is not queued for past --doc-send-buffer-bytes, and is resynced when it drains', async () => {
    const srv = await startDocs({ docSendBufferBytes: 16 * KiB, maxDocBytes: 16 * 1024 * KiB, maxDocUpdateBytes: 64 * KiB, docUpdateBurst: 10_000 });
    try {
      const id = await srv.create();
      const writer = await srv.open(id, { name: 'Writer' });
      const slow = await srv.open(id, { name: 'Slow' });
      const raw = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
      raw.pause();
      // Enough to fill the kernel buffers on both ends and then the server's send buffer.
      for (let i = 0; i < 80 && !srv.stats().behind_connections; i++) {
        writer.append('z'.repeat(32 * KiB));
        await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor(() => srv.stats().behind_connections === 1, 'the slow reader to be marked behind', { timeoutMs: 20_000 });
      for (let i = 0; i < 5; i++) writer.append('tail');
      await waitFor(async () => (await srv.mgr.room(id)!.text()) === writer.text, 'the server to have every edit');
      raw.resume();
      await converged([slow], writer.text, 'the slow reader to catch up through a resync');
      assert.equal(srv.stats().behind_connections, 0);
      await Promise.all([writer.close(), slow.close()]);
    } finally {
      await srv.close();
    }
  });
});

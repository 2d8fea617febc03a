import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import * as decoding from 'lib0/decoding';
import pino from 'pino';
import * as Y from 'yjs';
import type { WebSocket } from 'ws';
import { FakeClock } from '../core/clock.ts';
import { cleanName, DocConnection } from './connection.ts';
import { awarenessMessage, controlMessage, decodeAwarenessUpdate, decodeClientMessage, DocCloseCode, MalformedMessage, MessageType, syncStep1Message, syncStep2Message, updateMessage } from './protocol.ts';
import { exportFilename } from './routes.ts';

describe('documents: protocol codec', () => {
  it('round-trips sync, awareness and control messages', () => {
    const doc = new Y.Doc();
    doc.getText('content').insert(0, 'abc');
    const s1 = decodeClientMessage(syncStep1Message(Y.encodeStateVector(doc)));
    assert.equal(s1.kind, 'sync-step1');
    const s2 = decodeClientMessage(syncStep2Message(Y.encodeStateAsUpdate(doc)));
    assert.ok(s2.kind === 'update' && s2.step === 'step2');
    const u = decodeClientMessage(updateMessage(Y.encodeStateAsUpdate(doc)));
    assert.ok(u.kind === 'update' && u.step === 'update');
    const aw = decodeClientMessage(awarenessMessage([{ clientId: 7, clock: 3, state: '{"user":{"name":"A"}}' }, { clientId: 8, clock: 1, state: 'null' }]));
    assert.deepEqual(aw, { kind: 'awareness', entries: [{ clientId: 7, clock: 3, state: '{"user":{"name":"A"}}' }, { clientId: 8, clock: 1, state: 'null' }] });
    assert.deepEqual(decodeClientMessage(controlMessage({ type: 'lock', ttlMs: 5000 })), { kind: 'control', control: { type: 'lock', ttlMs: 5000 } });
    assert.deepEqual(decodeClientMessage(controlMessage({ type: 'unlock' })), { kind: 'control', control: { type: 'unlock' } });
    assert.deepEqual(decodeClientMessage(Uint8Array.from([MessageType.queryAwareness])), { kind: 'query-awareness' });
    const d = decoding.createDecoder(controlMessage({ type: 'hello', x: 1 }));
    assert.equal(decoding.readVarUint(d), MessageType.keel);
    assert.deepEqual(JSON.parse(decoding.readVarString(d)), { type: 'hello', x: 1 });
    doc.destroy();
  });

  it('refuses malformed frames with MalformedMessage', () => {
    const bad = [
      new Uint8Array(0),
      Uint8Array.from([99]),
      Uint8Array.from([0, 5, 0]),
      Uint8Array.from([0, 2, 10, 1]),
      controlMessage({ type: 'lock', ttlMs: -1 }),
      controlMessage({ type: 'lock', ttlMs: 1.5 }),
      controlMessage({ type: 'nope' }),
      controlMessage({ type: 'lock', pad: 'x'.repeat(5000) }),
      awarenessMessage(Array.from({ length: 17 }, (_, i) => ({ clientId: i, clock: 1, state: '{}' }))),
      awarenessMessage([{ clientId: 1, clock: 1, state: '{oops' }]),
    ];
    for (const b of bad) assert.throws(() => decodeClientMessage(b), MalformedMessage, Buffer.from(b).toString('hex').slice(0, 40));
  });

  it('decodes y-protocols awareness updates', () => {
    const entries = decodeAwarenessUpdate(awarenessMessage([{ clientId: 1, clock: 2, state: '{}' }]).subarray(2));
    assert.deepEqual(entries, [{ clientId: 1, clock: 2, state: '{}' }]);
  });

  it('cleans names and export file names', () => {
    assert.equal(cleanName(undefined), 'Anonymous');
    assert.equal(cleanName(' Ada\u0000\n '), 'Ada');
    assert.equal(cleanName('x'.repeat(100)).length, 64);
    assert.equal(exportFilename('Plan: Q3/Q4 "final"'), 'Plan_ Q3_Q4 _final_.md');
    assert.equal(exportFilename('...'), 'document.md');
  });
});

/** Just enough of a ws socket for DocConnection. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: Uint8Array[] = [];
  closedWith: number | undefined;
  send(d: Uint8Array) {
    this.sent.push(d);
  }
  close(code: number) {
    this.closedWith = code;
    this.readyState = 3;
  }
}

describe('documents: connection buffers', () => {
  const limits = { maxUpdateBytes: 1024, updatesPerSecond: 10, updateBurst: 10, rateLimitStrikes: 5, sendBufferBytes: 4096, preJoinMaxMessages: 4, preJoinMaxBytes: 100 };
  const deps = () => ({ limits, clock: new FakeClock(), log: pino({ level: 'silent' }), hooks: { refused() {} } });

  it('closes with 4429 past the pre-join message count', () => {
    const s = new FakeSocket();
    const c = new DocConnection(s as unknown as WebSocket, 'x', deps());
    for (let i = 0; i < 5; i++) s.emit('message', Buffer.from([3]), true);
    assert.equal(s.closedWith, DocCloseCode.flooding);
    c.dispose();
  });

  it('closes with 4429 past the pre-join byte count', () => {
    const s = new FakeSocket();
    const c = new DocConnection(s as unknown as WebSocket, 'x', deps());
    s.emit('message', Buffer.alloc(60), true);
    assert.equal(s.closedWith, undefined);
    s.emit('message', Buffer.alloc(60), true);
    assert.equal(s.closedWith, DocCloseCode.flooding);
    c.dispose();
  });

  it('stops queueing past the send buffer and forgets everything when disposed', () => {
    const s = new FakeSocket();
    const c = new DocConnection(s as unknown as WebSocket, 'x', deps());
    s.bufferedAmount = 4000;
    c.send(new Uint8Array(200));
    assert.equal(s.sent.length, 0);
    assert.ok(c.behind);
    s.emit('close');
    assert.ok(c.isDisposed);
    assert.equal(s.listenerCount('message'), 0, 'message listener removed');
    assert.equal(s.listenerCount('close'), 0, 'close listener removed');
  });
});

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import * as Y from 'yjs';
import { DocEngine } from './doc-engine.ts';
import { CONTENT_NAME } from './schema.ts';
import { concurrentInserts } from './test-attacks.ts';
import { waitUntil, workerThreads } from '../../test/threads.ts';

const log = pino({ level: 'silent' });

function state(text: string, client = 1): Uint8Array {
  const d = new Y.Doc();
  d.clientID = client;
  d.getText(CONTENT_NAME).insert(0, text);
  return Y.encodeStateAsUpdate(d);
}

function peerEdit(base: Uint8Array, text: string): Uint8Array {
  const d = new Y.Doc();
  Y.applyUpdate(d, base);
  const sv = Y.encodeStateVector(d);
  const t = d.getText(CONTENT_NAME);
  t.insert(t.length, text);
  return Y.encodeStateAsUpdate(d, sv);
}

describe('documents: the document worker lives only while documents are used (issue 12)', () => {
  it('starts on the first request, stops after the grace once the last document is dropped, and starts again', async () => {
    const base = workerThreads();
    const e = new DocEngine({ applyCpuMs: 1_000, maxDocBytes: 1 << 20, maxUpdateStructs: 65_536, heapMb: 64, idleStopMs: 150, log, onLost() {} });
    try {
      assert.deepEqual([e.running, workerThreads()], [0, base], 'no worker before any document is used');
      await e.load('a', state('one'), 0);
      assert.deepEqual([e.running, e.starts, workerThreads()], [1, 1, base + 1]);
      await e.refresh();
      assert.ok(e.read() > 1 << 20, `the worker's heap is reported while it runs: ${e.read()}`);
      // A loaded document keeps it, well past the grace.
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await e.text('a'), 'one');
      assert.deepEqual([e.running, e.idleStops], [1, 0]);
      e.drop('a');
      await waitUntil(() => e.running === 0, 'the idle worker to stop');
      await waitUntil(() => workerThreads() === base, 'the worker thread to exit');
      assert.deepEqual([e.idleStops, e.read()], [1, 0]);
      // A request without a loaded document (an export) starts one, which stops again after it.
      assert.equal(await e.textOf(state('stored')), 'stored');
      assert.deepEqual([e.running, e.starts], [1, 2]);
      await waitUntil(() => e.running === 0, 'the worker to stop after an export');
      assert.equal(e.idleStops, 2);
      await e.load('b', state('two'), 0);
      assert.equal(await e.text('b'), 'two');
      assert.equal(e.starts, 3);
    } finally {
      e.dispose();
    }
  });
});

describe('documents: the document worker', () => {
  const engines: DocEngine[] = [];
  after(() => engines.forEach((e) => e.dispose()));
  const engine = (applyCpuMs: number) => {
    const lost: string[] = [];
    const e = new DocEngine({ applyCpuMs, maxDocBytes: 1 << 20, maxUpdateStructs: 65_536, heapMb: 256, log, onLost: (r) => lost.push(r) });
    engines.push(e);
    return { e, lost };
  };

  it('updates waiting for the worker are bounded in bytes (--max-doc-pending-update-bytes): past it one is refused as server_busy, and the bound frees as answers come', async () => {
    const base = state('bounded');
    const edits = Array.from({ length: 20 }, (_, i) => peerEdit(base, `edit ${i} `.padEnd(200, '.')));
    const size = edits[0]!.byteLength;
    const e = new DocEngine({ applyCpuMs: 1_000, maxDocBytes: 1 << 20, maxUpdateStructs: 65_536, heapMb: 64, maxPendingApplyBytes: size * 3, log, onLost() {} });
    engines.push(e);
    await e.load('a', base, 0);
    // Sent in one go, before the worker answers any: the first three wait, the others are refused at once.
    const answers = await Promise.all(edits.map((u) => e.apply('a', u, false)));
    const busy = answers.filter((a) => !a.applied && a.reason === 'server_busy');
    assert.equal(answers.filter((a) => a.applied).length, 3, JSON.stringify(answers.map((a) => a.applied || a.reason)));
    assert.equal(busy.length, edits.length - 3);
    assert.match((busy[0] as { message: string }).message, /busy/);
    // Every answer came back: nothing waits, so the next edit is taken again.
    const later = await e.apply('a', peerEdit(base, 'after'), false);
    assert.equal(later.applied, true);
    assert.ok((await e.text('a')).includes('after'));
  });

  it('applies, encodes and reads text in order, off the main thread', async () => {
    const { e } = engine(1_000);
    const base = state('ab');
    await e.load('a', base, 0);
    const c = peerEdit(base, 'c');
    const [applied, text] = await Promise.all([e.apply('a', c, false), e.text('a')]);
    assert.ok(applied.applied && applied.update && applied.version === 1, JSON.stringify(applied));
    assert.equal(text, 'abc', 'text asked after the update reflects it');
    const again = await e.apply('a', c, true);
    assert.ok(again.applied && again.update === null, 'a repeated update is a no-op, even while locked out');
    const locked = await e.apply('a', peerEdit(base, 'zz'), true);
    assert.deepEqual([locked.applied, !locked.applied && locked.reason], [false, 'locked']);
    assert.equal(await e.textOf(state('stored')), 'stored');
    await assert.rejects(e.apply('a', Uint8Array.from([9, 9, 9]), false), { name: 'MalformedUpdate' });
    assert.equal(await e.text('a'), 'abc');
  });

  it('an update over its CPU allowance is refused, the worker restarted, every document restored and the waiting requests answered', async () => {
    const { e, lost } = engine(150);
    const base = state('ab', 1);
    await e.load('victim', base, 0);
    await e.load('other', state('other document', 2), 0);
    await e.apply('other', peerEdit(state('other document', 2), ' edited'), false);
    // Rounds of concurrent inserts at one place: each costs more than the last (quadratic integration).
    let refused: Awaited<ReturnType<DocEngine['apply']>> | undefined;
    let accepted = '';
    for (let r = 0; r < 20 && !refused; r++) {
      const round = e.apply('victim', concurrentInserts(Y.createID(1, 0), Y.createID(1, 1), 1_000 + r * 3_000, 3_000), false);
      const waiting = Promise.all([e.text('other'), e.text('victim')]);
      const a = await round;
      const [other, victim] = await waiting;
      assert.equal(other, 'other document edited', 'the other document is restored with its edit');
      if (a.applied) accepted = victim;
      else {
        refused = a;
        assert.equal(victim, accepted || 'ab', 'the victim is as it was before the refused update');
      }
    }
    assert.ok(refused && !refused.applied && refused.reason === 'too_expensive', JSON.stringify(refused));
    assert.match(refused.message, /--max-doc-apply-cpu-ms/);
    assert.ok(e.restarts >= 1 && e.timeouts >= 1);
    assert.deepEqual(lost, []);
    // Still usable.
    const after = await e.apply('victim', peerEdit(base, '!'), false);
    assert.ok(after.applied);
    assert.ok((await e.text('victim')).endsWith('b!'));
  });

  it('closing rejects what is waiting and frees the worker', async () => {
    const { e } = engine(1_000);
    await e.load('a', state('x'), 0);
    const pending = e.text('a');
    e.dispose();
    await assert.rejects(pending, /closed/);
    await assert.rejects(e.text('a'), /closed/);
    assert.equal(e.rooms, 0);
  });
});

/**
 * Issue 10, point 3: a crafted document update must not freeze or crash Keel within its documented
 * limits. Keel runs in its own process with its default limits; a probe asks /healthz every 20 ms
 * throughout and reads the server's RSS. Before the fix, a 20,000-deep chain of nested Y.Maps and
 * one 64 KB update touching its deepest maps froze the server for ~30 s (1.1 GB RSS), 40,000 levels
 * aborted it out of memory, and plain text inserts crafted to conflict froze it for 10–40 s a round.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import * as Y from 'yjs';
import { startKeel, type KeelProcess } from '../../bench/lib.ts';
import { request, waitFor } from '../../test/helpers.ts';
import { assertResponsive, startPairedProbe } from '../../test/probe.ts';
import { updateMessage } from './protocol.ts';
import { DocClient } from './test-client.ts';
import { concurrentInserts, nestedMapChain, touchDeepestMaps } from './test-attacks.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Structs per chain update: 20,000 levels are 163 KB, under the default --max-doc-update-bytes (256 KiB). */
const CHAIN_STEP = 20_000;

let keel: KeelProcess;
/** An idle Keel on the same machine, probed at the same time (test/probe.ts). */
let reference: KeelProcess;
const auth = () => ({ authorization: `Bearer ${keel.token}` });

async function api(method: string, pathname: string, body?: unknown) {
  const res = await request(keel.base + pathname, {
    method,
    headers: { ...auth(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res;
}

async function newDoc(title: string): Promise<string> {
  const res = await api('POST', '/api/docs', { title });
  assert.equal(res.status, 201, res.text);
  return res.json().id;
}

const open = (id: string, name: string) => DocClient.open(`${keel.base.replace(/^http/, 'ws')}/api/docs/${id}/ws`, { headers: auth(), name });

async function serverText(id: string): Promise<string> {
  const res = await api('GET', `/api/docs/${id}/export`);
  assert.equal(res.status, 200, res.text);
  return res.text;
}

/** Probes the server and the idle reference until there are 150 samples (a quick refusal must still be measured, and a p99 be more than the maximum). */
async function measure<T>(fn: () => Promise<T>): Promise<{ result: T; report: Awaited<ReturnType<ReturnType<typeof startPairedProbe>['stop']>>; rssBefore: number }> {
  const rssBefore = keel.rss();
  const probe = startPairedProbe(keel, reference);
  try {
    const result = await fn();
    await waitFor(() => probe.samples >= 150, 'the probes to take 150 samples', { timeoutMs: 60_000 });
    return { result, report: await probe.stop(), rssBefore };
  } catch (err) {
    await probe.stop().catch(() => {});
    throw err;
  }
}

/** Sends `updates` from `c`, waiting after each until the server has answered it (refused or relayed). */
async function sendAll(c: DocClient, witness: DocClient, updates: Uint8Array[]): Promise<void> {
  for (const u of updates) {
    const refusals = c.controls.length;
    const seen = witness.doc.store.clients.size + witness.controls.length;
    c.sendRaw(updateMessage(u));
    await waitFor(() => c.closeInfo || c.controls.length > refusals || witness.doc.store.clients.size + witness.controls.length > seen, 'the server to answer the update', { timeoutMs: 60_000 });
  }
}

describe('documents: crafted updates (issue 10, point 3)', () => {
  before(async () => {
    [keel, reference] = await Promise.all([startKeel(), startKeel()]);
  });
  after(() => Promise.all([keel?.stop(), reference?.stop()]));

  for (const depth of [5_000, 20_000, 40_000]) {
    it(`a chain of ${depth.toLocaleString('en')} nested maps, then one 64 KB update touching its deepest maps: refused, server responsive, document unchanged`, async () => {
      const id = await newDoc(`nesting ${depth}`);
      const honest = await open(id, 'Honest');
      const attacker = await open(id, 'Mallory');
      try {
        honest.append('honest text');
        await waitFor(async () => (await serverText(id)) === 'honest text', 'the honest edit');
        await waitFor(() => attacker.text === 'honest text', 'the attacker to sync');
        // Built before measuring: this process's own work must not show up as the server's latency.
        const chain: Uint8Array[] = [];
        for (let from = 0; from < depth; from += CHAIN_STEP) chain.push(nestedMapChain(from, Math.min(depth, from + CHAIN_STEP)));
        const touch = touchDeepestMaps(depth, 64 * KiB);
        assert.ok(touch.byteLength > Math.min(60 * KiB, depth * 9) && touch.byteLength <= 64 * KiB, `touch update is ${touch.byteLength} bytes`);
        const m = await measure(() => sendAll(attacker, honest, [...chain, touch]));
        assertResponsive(m.report, `depth ${depth}`, m.rssBefore, 192 * MiB);
        const refused = attacker.controls.filter((m) => m.type === 'refused');
        assert.ok(refused.length >= 1, `refused: ${JSON.stringify(attacker.controls.slice(-3))}`);
        assert.equal(refused[0]!.reason, 'unsupported_content', JSON.stringify(refused[0]));
        assert.match(refused[0]!.message, /text/);
        assert.equal(attacker.closeInfo, undefined, 'the attacker’s socket stays open');
        assert.equal(await serverText(id), 'honest text', 'the document is unchanged');
        assert.equal(honest.doc.share.has('root'), false, 'nothing of the chain reached the other editor');
        // The same socket still edits normally, and so does everyone else.
        attacker.append(' + fixed');
        await waitFor(() => honest.text === 'honest text + fixed', 'the attacker’s honest edit to reach the other editor');
        assert.equal(await serverText(id), 'honest text + fixed');
      } finally {
        await Promise.all([honest.close(), attacker.close()]);
      }
    });
  }

  it('text inserts crafted to conflict (thousands of clients at one place) are bounded by --max-doc-apply-cpu-ms', async () => {
    const id = await newDoc('conflicts');
    const honest = await open(id, 'Honest');
    const attacker = await open(id, 'Mallory');
    try {
      honest.append('ab');
      await waitFor(() => attacker.text === 'ab', 'the attacker to sync');
      const me = honest.doc.clientID;
      const rounds: Uint8Array[] = [];
      for (let r = 0; r < 8; r++) rounds.push(concurrentInserts(Y.createID(me, 0), Y.createID(me, 1), 1_000 + r * 5_000, 5_000));
      const m = await measure(async () => {
        // Round by round until one is refused, and one more after it (the socket and the worker still serve).
        for (const round of rounds) {
          const refusedBefore = attacker.controls.filter((c) => c.reason === 'too_expensive').length;
          await sendAll(attacker, honest, [round]);
          if (refusedBefore > 0) break;
        }
      });
      assertResponsive(m.report, 'conflicting inserts', m.rssBefore, 192 * MiB);
      const expensive = attacker.controls.filter((m) => m.type === 'refused' && m.reason === 'too_expensive');
      assert.ok(expensive.length >= 1, `some rounds were refused as too expensive: ${JSON.stringify(attacker.controls.slice(-3))}`);
      assert.equal(attacker.closeInfo, undefined, 'the attacker’s socket stays open');
      // Whatever was applied, the server and the editors agree, and editing goes on.
      honest.append('!');
      await waitFor(async () => (await serverText(id)) === honest.text && honest.text.endsWith('!'), 'the server to have the honest edit');
      const fresh = await open(id, 'Fresh');
      try {
        assert.equal(fresh.text, honest.text, 'a new editor gets the same document');
      } finally {
        await fresh.close();
      }
    } finally {
      await Promise.all([honest.close(), attacker.close()]);
    }
  });

  it('a legitimate large document (20,000 edits at random places, 650 KB) still syncs, in both directions', async () => {
    const id = await newDoc('large');
    const writer = await open(id, 'Writer');
    try {
      // 20,000 edits at pseudo-random places, in updates of 170 KB: a state of tens of thousands of structs.
      const t = writer.doc.getText('content');
      let seed = 42;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
      for (let batch = 0; batch < 4; batch++) {
        writer.doc.transact(() => {
          for (let i = 0; i < 5_000; i++) t.insert(rand(t.length + 1), 'lorem ipsum '.slice(0, 1 + rand(12)));
        });
        await new Promise((r) => setTimeout(r, 50));
      }
      const size = Y.encodeStateAsUpdate(writer.doc).byteLength;
      assert.ok(size > 600 * KiB && size < MiB, `document is ${size} bytes`);
      await waitFor(async () => (await serverText(id)) === writer.text, 'the server to have every edit', { timeoutMs: 30_000 }).catch((err) => {
        throw new Error(`${err.message}; the writer was told: ${JSON.stringify(writer.controls.filter((m) => m.type !== 'hello'))}`);
      });
      const reader = await open(id, 'Reader');
      try {
        assert.equal(reader.text, writer.text, 'a new editor gets the whole document');
      } finally {
        await reader.close();
      }
      assert.equal(writer.controls.filter((m) => m.type === 'refused').length, 0, JSON.stringify(writer.controls.slice(-3)));
    } finally {
      await writer.close();
    }
  });

  it('a document stored before the check (a 20,000-deep chain in SQLite) loads, and updates touching the chain are refused', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-legacy-'));
    let k2: KeelProcess | undefined;
    try {
      k2 = await startKeel([], { dataDir });
      const res = await request(k2.base + '/api/docs', { method: 'POST', headers: { authorization: `Bearer ${k2.token}`, 'content-type': 'application/json' }, body: '{"title":"legacy"}' });
      const id = res.json().id as string;
      await k2.stop();
      // Plant the chain as Keel would have stored it before updates were checked.
      const planted = new Y.Doc();
      planted.getText('content').insert(0, 'legacy text');
      Y.applyUpdate(planted, nestedMapChain(0, 20_000));
      const db = new DatabaseSync(path.join(dataDir, 'keel.db'));
      const state = Y.encodeStateAsUpdate(planted);
      db.prepare('UPDATE docs SET state = ?, bytes = ? WHERE id = ?').run(state, state.byteLength, id);
      db.close();
      planted.destroy();
      k2 = await startKeel([], { dataDir });
      const prev = keel;
      keel = k2;
      try {
        const honest = await open(id, 'Honest');
        const attacker = await open(id, 'Mallory');
        const touch = touchDeepestMaps(20_000, 64 * KiB);
        try {
          assert.equal(honest.text, 'legacy text');
          const m = await measure(() => sendAll(attacker, honest, [touch]));
          assertResponsive(m.report, 'legacy chain', m.rssBefore, 192 * MiB);
          assert.equal(attacker.lastControl('refused')?.reason, 'unsupported_content');
          assert.equal(await serverText(id), 'legacy text');
          honest.append('!');
          await waitFor(async () => (await serverText(id)) === 'legacy text!', 'an honest edit still applies');
        } finally {
          await Promise.all([honest.close(), attacker.close()]);
        }
      } finally {
        keel = prev;
      }
    } finally {
      await k2?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

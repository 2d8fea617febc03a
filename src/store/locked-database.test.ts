/**
 * Issue 10, point 4: a database locked by another process must not stall the event loop, and nothing
 * written meanwhile may be lost. Keel runs in its own process; another process holds BEGIN EXCLUSIVE
 * on keel.db for several seconds while chat sessions are created and renamed, a document is edited
 * and terminals are opened; a probe asks /healthz every 20 ms throughout. Before the fix every write
 * waited busy_timeout (5 s) on the main thread and then failed with a 500.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import * as Y from 'yjs';
import { startKeel, type KeelProcess } from '../../bench/lib.ts';
import { lockDatabase } from '../../test/db-lock.ts';
import { request, waitFor } from '../../test/helpers.ts';
import { assertResponsive, startPairedProbe } from '../../test/probe.ts';
import { DocClient } from '../docs/test-client.ts';

const MiB = 1024 * 1024;

describe('storage: a database locked by another process (issue 10, point 4)', () => {
  let dataDir: string;
  let keel: KeelProcess;
  /** An idle Keel on the same machine, probed at the same time (test/probe.ts). */
  let reference: KeelProcess;
  const api = async (method: string, pathname: string, body?: unknown) => {
    const t0 = performance.now();
    const res = await request(keel.base + pathname, {
      method,
      headers: { authorization: `Bearer ${keel.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json: any;
    try {
      json = JSON.parse(res.text);
    } catch {
      json = undefined; // /metrics is text
    }
    return { status: res.status, json, text: res.text, ms: performance.now() - t0 };
  };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-locked-'));
    [keel, reference] = await Promise.all([startKeel(['--doc-store-debounce-ms', '100', '--doc-store-max-debounce-ms', '300'], { dataDir }), startKeel()]);
  });
  after(async () => {
    await Promise.all([keel?.stop(), reference?.stop()]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keel.db, -wal and -shm are 0600 in a 0700 directory', () => {
    assert.equal(fs.statSync(dataDir).mode & 0o777, 0o700, 'data directory');
    for (const f of ['keel.db', 'keel.db-wal', 'keel.db-shm']) assert.equal(fs.statSync(path.join(dataDir, f)).mode & 0o777, 0o600, f);
  });

  it('writes during a 6 s lock: the server keeps answering, the writes are kept and reported, and land once the lock is released', async () => {
    const doc = await api('POST', '/api/docs', { title: 'Runbook' });
    assert.equal(doc.status, 201, doc.text);
    const editor = await DocClient.open(`${keel.base.replace(/^http/, 'ws')}/api/docs/${doc.json.id}/ws`, { headers: { authorization: `Bearer ${keel.token}` }, name: 'Ada' });
    editor.append('before the lock');
    await waitFor(async () => (await api('GET', `/api/docs/${doc.json.id}`)).json.bytes > 0, 'the first edit to be stored');

    const rssBefore = keel.rss();
    const probe = startPairedProbe(keel, reference);
    let report: Awaited<ReturnType<typeof probe.stop>> | undefined;
    after(async () => {
      report ??= await probe.stop().catch(() => undefined);
      await editor.close();
    });
    const lock = await lockDatabase(path.join(dataDir, 'keel.db'));
    const lockedAt = Date.now();
    const sessions: string[] = [];
    const terminals: string[] = [];
    let degraded: any;
    try {
      for (let i = 0; i < 5; i++) {
        const r = await api('POST', '/api/chat/sessions', { title: `during the lock ${i}` });
        assert.equal(r.status, 201, r.text);
        assert.ok(r.ms < 1_000, `created at once, not after a busy wait (${Math.round(r.ms)} ms)`);
        sessions.push(r.json.id);
        editor.append(` +${i}`);
        await new Promise((res) => setTimeout(res, 150));
      }
      const renamed = await api('PATCH', `/api/chat/sessions/${sessions[0]}`, { title: 'renamed during the lock' });
      assert.equal(renamed.status, 200, renamed.text);
      for (let i = 0; i < 2; i++) {
        const t = await api('POST', '/api/terminals', { cols: 80, rows: 24, name: `locked ${i}` });
        assert.equal(t.status, 201, t.text);
        terminals.push(t.json.id);
      }
      // Read your own writes: the kept rows are listed.
      const list = await api('GET', '/api/chat/sessions');
      for (const id of sessions) assert.ok(list.json.sessions.some((s: any) => s.id === id), `session ${id} listed while the lock is held`);
      assert.equal((await api('GET', `/api/chat/sessions/${sessions[0]}`)).json.title, 'renamed during the lock');
      // Reported everywhere.
      degraded = await waitFor(async () => {
        const r = (await api('GET', '/readyz')).json;
        return r.storage.state === 'degraded' && r.storage.pending_writes > 0 && r;
      }, 'storage to be reported degraded');
      assert.match(degraded.storage.reason, /lock/);
      assert.equal((await api('GET', '/healthz')).json.storage, 'degraded');
      const mem = (await api('GET', '/debug/memory')).json;
      assert.equal(mem.storage.state, 'degraded');
      assert.equal(mem.storage.problem, 'locked');
      assert.ok(mem.storage.pending_writes >= 5, JSON.stringify(mem.storage));
      assert.match((await api('GET', '/metrics')).text, /keel_storage_degraded\{problem="locked"\} 1/);
      // Hold the lock for 6 s in all.
      await new Promise((res) => setTimeout(res, Math.max(0, 6_000 - (Date.now() - lockedAt))));
    } finally {
      await lock.release();
    }
    await waitFor(async () => (await api('GET', '/readyz')).json.storage.state === 'ok', 'storage to recover', { timeoutMs: 15_000 });
    report = await probe.stop();
    assert.ok(report.target.samples > 150, `probed throughout the lock (${report.target.samples} samples)`);
    assertResponsive(report, 'a 6 s lock', rssBefore, 64 * MiB);
    const mem = (await api('GET', '/debug/memory')).json;
    assert.equal(mem.storage.pending_writes, 0);
    assert.ok(mem.storage.landed_after_retry_total >= 5, JSON.stringify(mem.storage));
    assert.ok(mem.audit.recent.some((a: any) => a.kind === 'degraded') && mem.audit.recent.some((a: any) => a.kind === 'recovered'), 'the outage is in the cleanup log');
    const expectedText = editor.text;
    assert.match(expectedText, /before the lock \+0 \+1 \+2 \+3 \+4/);
    await waitFor(async () => (await api('GET', `/api/docs/${doc.json.id}`)).json.loaded === true, 'still loaded');
    await editor.close();
    // Everything is on disk: read keel.db after a clean stop.
    await keel.stop();
    assert.equal(keel.child.exitCode, 0, 'a clean shutdown once everything is stored');
    const db = new DatabaseSync(path.join(dataDir, 'keel.db'), { readOnly: true });
    try {
      const rows = db.prepare(`SELECT id, title FROM chat_sessions WHERE id IN (${sessions.map(() => '?').join(',')})`).all(...sessions) as { id: string; title: string }[];
      assert.equal(rows.length, 5, 'every chat session created during the lock is stored');
      assert.equal(rows.find((r) => r.id === sessions[0])!.title, 'renamed during the lock');
      const state = (db.prepare('SELECT state FROM docs WHERE id = ?').get(doc.json.id) as { state: Uint8Array }).state;
      const stored = new Y.Doc();
      Y.applyUpdate(stored, state);
      assert.equal(stored.getText('content').toString(), expectedText, 'every edit made during the lock is stored');
      // Terminals open at shutdown are offered at the next start: their tabs, created during the lock, are stored.
      const tabs = db.prepare(`SELECT id FROM terminal_tabs WHERE id IN (${terminals.map(() => '?').join(',')})`).all(...terminals);
      assert.equal(tabs.length, 2, 'the terminals opened during the lock are remembered');
    } finally {
      db.close();
    }
    keel = await startKeel([], { dataDir });
  });
});

/**
 * Issue 10, point 4: SIGTERM while documents cannot be stored must not exit 0 silently. The real
 * CLI runs in its own process; another process holds keel.db's lock while an edit is unsaved. Keel
 * keeps retrying until its shutdown deadline; if the lock outlives it, it logs what is lost, names
 * the document, and exits 3; if the lock goes in time, the edit lands and it exits 0.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import * as Y from 'yjs';
import { startKeel, type KeelProcess } from '../../bench/lib.ts';
import { lockDatabase } from '../../test/db-lock.ts';
import { request, waitFor } from '../../test/helpers.ts';
import { DocClient } from '../docs/test-client.ts';

const SHUTDOWN_MS = 3_000;

async function withUnsavedEdit(fn: (k: KeelProcess, out: () => string, docId: string, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-sigterm-'));
  // A long debounce: the edit is only stored by the shutdown.
  const k = await startKeel(['--shutdown-timeout-ms', String(SHUTDOWN_MS), '--doc-store-debounce-ms', '600000', '--doc-store-max-debounce-ms', '600000'], { dataDir });
  let out = '';
  k.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  k.child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const res = await request(k.base + '/api/docs', { method: 'POST', headers: { authorization: `Bearer ${k.token}`, 'content-type': 'application/json' }, body: '{"title":"Precious notes"}' });
    const id = res.json().id as string;
    const editor = await DocClient.open(`${k.base.replace(/^http/, 'ws')}/api/docs/${id}/ws`, { headers: { authorization: `Bearer ${k.token}` } });
    editor.append('written while the database was locked');
    await waitFor(async () => (await request(k.base + `/api/docs/${id}/export`, { headers: { authorization: `Bearer ${k.token}` } })).text === editor.text, 'the edit to reach the server');
    await fn(k, () => out, id, dataDir);
    await editor.close().catch(() => {});
  } finally {
    await k.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const exited = (k: KeelProcess) => new Promise<number | null>((r) => (k.child.exitCode !== null ? r(k.child.exitCode) : k.child.once('exit', (code) => r(code))));

function storedText(dataDir: string, id: string): string {
  const db = new DatabaseSync(path.join(dataDir, 'keel.db'), { readOnly: true });
  try {
    const row = db.prepare('SELECT state FROM docs WHERE id = ?').get(id) as { state: Uint8Array | null };
    const d = new Y.Doc();
    if (row.state) Y.applyUpdate(d, row.state);
    return d.getText('content').toString();
  } finally {
    db.close();
  }
}

describe('storage: shutting down while the database is locked (issue 10, point 4)', () => {
  it('the lock outlives the shutdown deadline: Keel retries until then, names the lost document, and exits 3', async () => {
    await withUnsavedEdit(async (k, out, id, dataDir) => {
      const lock = await lockDatabase(path.join(dataDir, 'keel.db'));
      try {
        const t0 = Date.now();
        k.child.kill('SIGTERM');
        const code = await exited(k);
        const took = Date.now() - t0;
        assert.equal(code, 3, `exit code (output:\n${out().slice(-2_000)})`);
        assert.ok(took >= SHUTDOWN_MS / 2, `kept retrying until near the deadline (${took} ms)`);
        assert.ok(took < SHUTDOWN_MS + 2_000, `and no longer (${took} ms)`);
        assert.match(out(), new RegExp(`could not be stored before shutdown and are lost[^\\n]*document ${id}`), 'the log names the document');
        assert.match(out(), new RegExp(`keel: 1 write\\(s\\) could not be stored before shutdown and are lost:\\n  - document ${id} \\("Precious notes"\\)`), 'so does stderr');
      } finally {
        await lock.release();
      }
      assert.equal(storedText(dataDir, id), '', 'nothing pretended to be stored');
    });
  });

  it('the lock goes before the deadline: the kept edit lands and Keel exits 0', async () => {
    await withUnsavedEdit(async (k, out, id, dataDir) => {
      const lock = await lockDatabase(path.join(dataDir, 'keel.db'));
      k.child.kill('SIGTERM');
      setTimeout(() => void lock.release(), 800);
      const code = await exited(k);
      await lock.release();
      assert.equal(code, 0, out().slice(-2_000));
      assert.equal(storedText(dataDir, id), 'written while the database was locked');
    });
  });
});

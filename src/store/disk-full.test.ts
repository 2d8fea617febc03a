/**
 * Issue 10, point 4: a full disk answers 507 `insufficient_storage` with what to do, instead of a
 * generic 500, and loses no edit. On a real tiny filesystem (a tmpfs mounted with `size=`, when this
 * runs as root), and everywhere with SQLite's max_page_count standing in for the disk's size.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DocClient } from '../docs/test-client.ts';
import { request, startKeel, waitFor, type TestKeel } from '../../test/helpers.ts';

async function api(k: TestKeel, method: string, pathname: string, body?: unknown) {
  const res = await request(k.url + pathname, {
    method,
    headers: { ...k.authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json: any;
  try {
    json = JSON.parse(res.text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text: res.text };
}

/** Creates documents until the server answers something other than 201; returns that answer. */
async function createUntilRefused(k: TestKeel, max = 3_000) {
  for (let i = 0; i < max; i++) {
    const r = await api(k, 'POST', '/api/docs', { title: `filler ${i} `.padEnd(200, 'x') });
    if (r.status !== 201) return r;
  }
  throw new Error(`${max} documents were created on a full disk`);
}

/** A full disk end to end: 507 for what a user asks, edits kept and reported, everything landing once there is room. */
async function scenario(k: TestKeel, fill: () => void, makeRoom: () => void): Promise<void> {
  const doc = await api(k, 'POST', '/api/docs', { title: 'Kept in memory' });
  assert.equal(doc.status, 201);
  const editor = await DocClient.open(`${k.wsUrl}/api/docs/${doc.json.id}/ws`, { headers: k.authHeaders, name: 'Ada' });
  try {
    fill();
    const refused = await createUntilRefused(k);
    assert.equal(refused.status, 507, refused.text);
    assert.equal(refused.json.error, 'insufficient_storage');
    assert.match(refused.json.message, /is full/);
    assert.match(refused.json.message, /Free space on that disk/);
    // Edits go on: kept in memory, reported.
    editor.append('x'.repeat(200 * 1024));
    const ready = await waitFor(async () => {
      const r = (await api(k, 'GET', '/readyz')).json;
      return r.storage.state === 'degraded' && r.storage.pending_writes > 0 && r;
    }, 'the document store to be kept and reported');
    // While that waits for room, every write a user asks for answers 507 at once (chat too).
    const chat = await api(k, 'POST', '/api/chat/sessions', { title: 'on a full disk' });
    assert.equal(chat.status, 507, chat.text);
    assert.equal(chat.json.error, 'insufficient_storage');
    assert.equal(ready.status, 'ready');
    assert.match(ready.storage.reason, /is full/);
    assert.equal((await api(k, 'GET', '/debug/memory')).json.storage.problem, 'full');
    makeRoom();
    await waitFor(async () => (await api(k, 'GET', '/readyz')).json.storage.state === 'ok', 'storage to recover once there is room', { timeoutMs: 15_000 });
    assert.equal((await api(k, 'GET', `/api/docs/${doc.json.id}`)).json.bytes > 200 * 1024, true, 'the document state landed');
    assert.equal((await api(k, 'POST', '/api/chat/sessions', { title: 'room again' })).status, 201);
  } finally {
    await editor.close();
  }
}

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

describe('storage: a full disk (issue 10, point 4)', () => {
  it('SQLite max_page_count as the disk size: 507 with what to do, edits kept and stored once there is room', async () => {
    const k = await startKeel();
    try {
      const db = k.keel.ctx.db;
      await scenario(
        k,
        () => {
          const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
          db.exec(`PRAGMA max_page_count = ${pages}`);
        },
        () => db.exec('PRAGMA max_page_count = 1073741823'),
      );
    } finally {
      await k.close();
    }
  });

  it('a real 4 MB filesystem filled to the last byte (tmpfs; needs root)', { skip: canMount() ? false : 'cannot mount a tmpfs here (not root)' }, async () => {
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-tiny-fs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
    const filler = path.join(mnt, 'filler');
    let k: TestKeel | undefined;
    try {
      k = await startKeel({ dataDir: path.join(mnt, 'data') });
      await scenario(
        k,
        () => {
          const fd = fs.openSync(filler, 'w');
          const chunk = Buffer.alloc(16 * 1024, 1);
          try {
            for (;;) fs.writeSync(fd, chunk);
          } catch (err) {
            assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
          } finally {
            fs.closeSync(fd);
          }
          // The last partial block too.
          try {
            fs.appendFileSync(filler, Buffer.alloc(1024, 1));
          } catch {
            // full
          }
        },
        () => fs.rmSync(filler),
      );
    } finally {
      await k?.close();
      execFileSync('umount', [mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });
});

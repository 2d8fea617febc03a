import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as Y from 'yjs';
import { startKeel } from '../../test/helpers.ts';
import { converged, startDocs, waitFor, type DocsServer } from './test-helpers.ts';
import { DocClient } from './test-client.ts';

describe('documents: REST', () => {
  let srv: DocsServer;
  before(async () => {
    srv = await startDocs();
  });
  after(() => srv.close());

  it('creates, lists, gets, renames, exports and deletes a document', async () => {
    const c = await srv.api('POST', '/api/docs', { title: 'Runbook' });
    assert.equal(c.status, 201, c.text);
    assert.match(c.json.id, /^d_[A-Za-z0-9_-]{12}$/);
    assert.equal(c.json.title, 'Runbook');
    assert.equal(c.json.bytes, 0);
    assert.ok(Date.parse(c.json.createdAt) > 0 && Date.parse(c.json.updatedAt) > 0);
    const id = c.json.id;
    const l = await srv.api('GET', '/api/docs');
    assert.ok(l.json.documents.some((d: { id: string }) => d.id === id));
    assert.equal((await srv.api('GET', `/api/docs/${id}`)).json.title, 'Runbook');
    const p = await srv.api('PATCH', `/api/docs/${id}`, { title: 'Plan' });
    assert.equal(p.status, 200);
    assert.equal(p.json.title, 'Plan');

    const a = await srv.open(id);
    a.append('# Plan\n\n- one\n');
    await waitFor(async () => (await srv.mgr.room(id)?.text()) === '# Plan\n\n- one\n', 'the server to have the text');
    const e = await srv.api('GET', `/api/docs/${id}/export?format=md`);
    assert.equal(e.status, 200);
    assert.match(String(e.headers['content-type']), /^text\/markdown/);
    assert.equal(e.headers['content-disposition'], 'attachment; filename="Plan.md"');
    assert.equal(e.text, '# Plan\n\n- one\n');
    await a.close();
    await waitFor(() => !srv.mgr.room(id), 'the document to unload');
    assert.equal((await srv.api('GET', `/api/docs/${id}/export`)).text, '# Plan\n\n- one\n', 'export of an unloaded document reads SQLite');

    const b = await srv.open(id);
    const d = await srv.api('DELETE', `/api/docs/${id}`);
    assert.equal(d.status, 204);
    await waitFor(() => b.closeInfo, 'the editor of a deleted document to be closed');
    assert.equal(b.closeInfo!.code, 4404);
    assert.equal(b.lastControl('error')?.code, 'document_deleted');
    assert.equal((await srv.api('GET', `/api/docs/${id}`)).status, 404);
    assert.equal((await srv.api('DELETE', `/api/docs/${id}`)).json.error, 'document_not_found');
    await assert.rejects(srv.open(id), (err: any) => err.status === 404 && JSON.parse(err.body).error === 'document_not_found');
  });

  it('answers bad input with 400/404/413 JSON', async () => {
    for (const body of [{}, { title: '' }, { title: 'x'.repeat(201) }, { title: 5 }, { title: 'a', extra: 1 }]) {
      const r = await srv.api('POST', '/api/docs', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error, 'invalid_request');
    }
    assert.equal((await srv.api('POST', '/api/docs', '{nope')).json.error, 'invalid_json');
    assert.equal((await srv.api('GET', '/api/docs/d_missing')).status, 404);
    assert.equal((await srv.api('GET', '/api/docs/bad%20id')).json.error, 'invalid_request');
    assert.equal((await srv.api('PATCH', '/api/docs/d_missing', { title: 'x' })).json.error, 'document_not_found');
    const id = await srv.create();
    assert.equal((await srv.api('GET', `/api/docs/${id}/export?format=html`)).json.error, 'unsupported_format');
    assert.equal((await srv.api('GET', '/api/docs?limit=0')).status, 400);
    const big = await srv.api('POST', '/api/docs', { title: 'x'.repeat(300 * 1024) });
    assert.equal(big.status, 413);
    assert.equal(big.json.error, 'body_too_large');
    assert.equal((await srv.api('POST', `/api/docs/${id}/lock`, { connection: 'c_nobody' })).json.error, 'connection_not_found');
    assert.equal((await srv.api('DELETE', `/api/docs/${id}/lock`)).status, 400);
    assert.equal((await srv.api('DELETE', `/api/docs/${id}/lock?force=1`)).status, 204);
  });

  it('tells open editors about a rename', async () => {
    const id = await srv.create('Old');
    const a = await srv.open(id);
    assert.equal(a.hello!.document.title, 'Old');
    await srv.api('PATCH', `/api/docs/${id}`, { title: 'New' });
    await waitFor(() => a.lastControl('title')?.title === 'New', 'a title message');
    await a.close();
  });
});

describe('documents: sync', () => {
  it('two editors converge, a third joining later gets the same content, and a restart keeps it', async () => {
    let srv = await startDocs();
    const dataDir = srv.k.dataDir;
    let id: string;
    let stored: string;
    try {
      id = await srv.create('Shared');
      const a = await srv.open(id, { name: 'Ada' });
      const b = await srv.open(id, { name: 'Bob' });
      assert.equal(a.hello!.name, 'Ada');
      assert.notEqual(a.connectionId, b.connectionId);
      a.append('Hello');
      await converged([a, b], 'Hello');
      // Concurrent edits at both ends.
      for (let i = 0; i < 20; i++) {
        a.insert(0, 'a');
        b.append('b');
      }
      const expected = 'a'.repeat(20) + 'Hello' + 'b'.repeat(20);
      await converged([a, b], expected);
      const c = await srv.open(id);
      await waitFor(() => c.synced, 'the late joiner to sync');
      await converged([a, b, c], expected);
      // Presence: b sets its cursor, a and c see it; b leaves, it is removed.
      b.setPresence({ user: { name: 'Bob', color: '#f00' }, cursor: 3 });
      await waitFor(() => a.presence.has(b.doc.clientID) && c.presence.has(b.doc.clientID), 'b’s presence to reach a and c');
      await b.close();
      await waitFor(() => !a.presence.has(b.doc.clientID), 'b’s presence to be removed when it leaves');
      stored = expected;
      await Promise.all([a.close(), c.close()]);
    } finally {
      // Graceful shutdown stores every document: close, then start again on the same data dir.
      await srv.k.keel.close();
    }
    const k2 = await startKeel({ dataDir });
    try {
      const d = await DocClient.open(`${k2.wsUrl}/api/docs/${id!}/ws`, { headers: k2.authHeaders });
      await waitFor(() => d.synced, 'sync after restart');
      assert.equal(d.text, stored!);
      await d.close();
    } finally {
      await k2.close();
      (await import('node:fs')).rmSync(dataDir, { recursive: true, force: true });
    }
    srv = undefined as never;
  });

  it('works with the stock y-websocket provider', async () => {
    const srv = await startDocs();
    const { WebsocketProvider } = await import('y-websocket');
    const { WebSocket } = await import('ws');
    const headers = srv.k.authHeaders;
    // y-websocket passes (url, protocols); the polyfill adds the Bearer header a browser's cookie would carry.
    class AuthedWs extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers });
      }
    }
    const id = await srv.create();
    const ydoc = new Y.Doc();
    const provider = new WebsocketProvider(`${srv.k.wsUrl}/api/docs/${id}`, 'ws', ydoc, { WebSocketPolyfill: AuthedWs as never, disableBc: true, params: { name: 'Provider' } });
    const controls: any[] = [];
    const decoding = await import('lib0/decoding');
    provider.messageHandlers[100] = (_e: unknown, d: any) => void controls.push(JSON.parse(decoding.readVarString(d)));
    try {
      await waitFor(() => provider.synced, 'the provider to sync');
      assert.equal(controls[0]?.type, 'hello');
      const raw = await srv.open(id);
      ydoc.getText('content').insert(0, 'from provider');
      await converged([raw], 'from provider');
      raw.append('!');
      await waitFor(() => ydoc.getText('content').toString() === 'from provider!', 'the provider to receive an edit');
      await raw.close();
    } finally {
      provider.destroy();
      ydoc.destroy();
      await srv.close();
    }
  });
});

describe('documents: shutdown and observability', () => {
  it('shutdown stores every dirty document before closing editors with 1001', async () => {
    const srv = await startDocs({ docStoreDebounceMs: 3_600_000, docStoreMaxDebounceMs: 3_600_000 });
    const dataDir = srv.k.dataDir;
    try {
      const id = await srv.create();
      const a = await srv.open(id);
      a.append('unsaved until shutdown');
      await waitFor(async () => (await srv.mgr.room(id)?.text()) === 'unsaved until shutdown', 'edit');
      assert.equal(srv.mgr.docs.loadState(id), null, 'the debounce has not stored it');
      assert.equal(srv.stats().dirty_documents, 1);
      const closing = srv.k.keel.close();
      await waitFor(() => a.closeInfo, 'the editor to be closed');
      assert.equal(a.closeInfo!.code, 1001);
      await closing;
      const k2 = await startKeel({ dataDir });
      try {
        assert.equal((await k2.keel.ctx.services.docs!.exportMarkdown(id)).text, 'unsaved until shutdown');
      } finally {
        await k2.close();
      }
    } finally {
      (await import('node:fs')).rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reports documents in /debug/memory and /metrics', async () => {
    const srv = await startDocs();
    try {
      const id = await srv.create();
      const a = await srv.open(id);
      a.append('observed');
      a.requestLock();
      await waitFor(() => a.lock, 'lock');
      // Edits are applied in the document worker: the lock (main thread) can be answered first.
      await waitFor(() => srv.stats().doc_bytes > 0, 'the edit to be applied');
      const mem = (await srv.api('GET', '/debug/memory')).json;
      const d = mem.subsystems.docs;
      assert.equal(d.documents_loaded, 1);
      assert.equal(d.connections, 1);
      assert.equal(d.locks_held, 1);
      assert.equal(d.rate_limit_buckets, 1);
      assert.ok(d.doc_bytes > 0);
      assert.equal(mem.connections.doc_connections, 1);
      assert.ok(mem.budget.by_subsystem.docs > 0);
      const metrics = (await srv.api('GET', '/metrics')).text;
      assert.match(metrics, /keel_subsystem\{subsystem="docs",stat="documents_loaded"\} 1/);
      assert.match(metrics, /keel_subsystem\{subsystem="docs",stat="locks_held"\} 1/);
      assert.match(metrics, /keel_connections\{kind="doc_connections"\} 1/);
      await a.close();
    } finally {
      await srv.close();
    }
  });
});

/**
 * Issue 10, point 6: connections without credentials cannot fill the HTTP slots. Idle sockets,
 * slowloris tricklers and keep-alive /healthz holders — more of them than maxHttpConnections — and
 * a signed-in user's request is still served at once; the strangers are cut within the documented
 * timeouts; at the unauthenticated share the least recently active stranger makes room; a
 * WebSocket counts as authenticated once its handshake succeeds (share links included); only when
 * every slot is held by authenticated clients is a new connection refused with 503.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { closeWs, connectionsInUse, openWs, request, startKeel, waitFor, type TestKeel } from './helpers.ts';

type StrangerKind = 'silent' | 'trickle' | 'keepalive';

interface Stranger {
  kind: StrangerKind;
  socket: net.Socket;
  openedAt: number;
  /** When the server closed it (ms since opened), once it has. */
  closedAfterMs?: number;
}

/** A connection that never authenticates: sends nothing, trickles headers, or idles after /healthz. */
function stranger(port: number, kind: StrangerKind): Promise<Stranger> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const st: Stranger = { kind, socket, openedAt: Date.now() };
    let trickle: NodeJS.Timeout | undefined;
    socket.on('error', () => {});
    // Read (and drop) what the server sends, or its close would wait behind unread data.
    socket.resume();
    socket.once('close', () => {
      clearInterval(trickle);
      st.closedAfterMs = Date.now() - st.openedAt;
    });
    socket.once('connect', () => {
      st.openedAt = Date.now();
      if (kind === 'trickle') {
        socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        // One header byte every 200 ms: valid header lines that never end.
        const line = 'X-Pad: a\r\n';
        let n = 0;
        trickle = setInterval(() => socket.writable && socket.write(line[n++ % line.length]!), 200);
      } else if (kind === 'keepalive') {
        socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      }
      resolve(st);
    });
    socket.once('error', reject);
  });
}

function stats(k: TestKeel): Record<string, number> {
  return k.keel.app.keelHttp.stats();
}

describe('strangers cannot hold the HTTP slots', () => {
  const HEADERS_MS = 2_000;
  const KEEPALIVE_MS = 1_000;
  let k: TestKeel;
  const strangers: Stranger[] = [];
  before(async () => {
    k = await startKeel({ httpHeadersTimeoutMs: HEADERS_MS, httpKeepAliveTimeoutMs: KEEPALIVE_MS });
  });
  after(async () => {
    for (const s of strangers) s.socket.destroy();
    await k.close();
  });

  test('300 idle, trickling and keep-alive sockets (more than --max-http-connections): a signed-in request is served at once, and every stranger is cut within its timeout', async () => {
    const max = k.keel.ctx.options.maxHttpConnections;
    assert.equal(max, 256, 'the default cap');
    const kinds: StrangerKind[] = ['silent', 'trickle', 'keepalive'];
    for (let i = 0; i < 300; i++) strangers.push(await stranger(k.keel.port, kinds[i % 3]!));
    const share = stats(k).max_unauthenticated_connections!;
    assert.equal(share, 64, 'the default unauthenticated share');
    await waitFor(() => stats(k).unauthenticated_connections! <= share, 'strangers within their share');

    // "At once": a 5 s bound against the 90 s the slots used to stay full.
    const res = await request(`${k.url}/debug/memory`, { headers: k.authHeaders, timeoutMs: 5_000 });
    assert.equal(res.status, 200, res.text.slice(0, 200));
    // And again while the strangers keep coming.
    for (let i = 0; i < 30; i++) strangers.push(await stranger(k.keel.port, kinds[i % 3]!));
    assert.equal((await request(`${k.url}/debug/memory`, { headers: k.authHeaders, timeoutMs: 5_000 })).status, 200);
    assert.ok(stats(k).unauthenticated_connections! <= share, JSON.stringify(stats(k)));
    assert.ok(stats(k).unauthenticated_evicted! >= 330 - share, `strangers past the share make room: ${JSON.stringify(stats(k))}`);

    // Documented: headers within --http-headers-timeout-ms (checked every second); an idle
    // keep-alive connection closed after --http-keep-alive-timeout-ms plus Node's 1 s margin.
    // The slack is for a loaded machine, far below the 60–72 s of Node's and Fastify's defaults.
    const SLACK_MS = 4_000;
    const bound: Record<StrangerKind, number> = { silent: HEADERS_MS + 1_000 + SLACK_MS, trickle: HEADERS_MS + 1_000 + SLACK_MS, keepalive: KEEPALIVE_MS + 1_000 + SLACK_MS };
    await waitFor(() => strangers.every((s) => s.closedAfterMs !== undefined), 'every stranger to be closed by the server', { timeoutMs: 20_000 }).catch((err) => {
      const open = strangers.filter((s) => s.closedAfterMs === undefined);
      throw new Error(`${err.message}: still open ${open.length}: ${JSON.stringify(open.slice(0, 5).map((s) => s.kind))} stats ${JSON.stringify(stats(k))} inUse ${connectionsInUse(k, 'http_connections')}`);
    });
    for (const kind of kinds) {
      const worst = Math.max(...strangers.filter((s) => s.kind === kind).map((s) => s.closedAfterMs!));
      assert.ok(worst <= bound[kind], `${kind} strangers were cut after up to ${worst} ms (bound ${bound[kind]} ms)`);
    }
    await waitFor(() => connectionsInUse(k, 'http_connections') === 0 && stats(k).unauthenticated_connections === 0, 'every slot released');
  });
});

describe('the unauthenticated share', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel({ maxHttpConnections: 16, maxUnauthenticatedConnections: 4 });
  });
  after(() => k.close());

  test('at the share, a new connection closes the least recently active stranger; authenticated connections are never closed for it', async () => {
    // An authenticated keep-alive connection, idle after its request.
    const authed = net.connect(k.keel.port, '127.0.0.1');
    authed.on('error', () => {});
    let seen = '';
    authed.on('data', (c: Buffer) => (seen += c.toString()));
    await new Promise((r) => authed.once('connect', r));
    authed.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${k.authHeaders.authorization}\r\n\r\n`);
    await waitFor(() => seen.includes('"ok"'), 'the authenticated request’s answer');

    const first = await Promise.all([0, 1, 2, 3].map(() => stranger(k.keel.port, 'silent')));
    await waitFor(() => stats(k).unauthenticated_connections === 4, 'four strangers');
    assert.equal(stats(k).unauthenticated_evicted, 0);
    const fifth = await stranger(k.keel.port, 'silent');
    await waitFor(() => first[0]!.closedAfterMs !== undefined, 'the oldest stranger to be closed');
    assert.ok(first.slice(1).every((s) => s.closedAfterMs === undefined), 'only the oldest');
    assert.equal(fifth.closedAfterMs, undefined);
    assert.equal(stats(k).unauthenticated_evicted, 1);

    // Ten more strangers churn through the share; the authenticated connection still works.
    const more = await Promise.all(Array.from({ length: 10 }, () => stranger(k.keel.port, 'silent')));
    await waitFor(() => stats(k).unauthenticated_evicted === 11, 'ten more evictions');
    assert.ok(!authed.destroyed, 'the authenticated connection was not closed');
    seen = '';
    authed.write(`GET /debug/memory HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${k.authHeaders.authorization}\r\n\r\n`);
    await waitFor(() => seen.startsWith('HTTP/1.1 200'), 'a second request on the authenticated connection');
    for (const s of [...first, fifth, ...more]) s.socket.destroy();
    authed.destroy();
    await waitFor(() => connectionsInUse(k, 'http_connections') === 0, 'every slot released');
  });

  test('a WebSocket counts as authenticated once its handshake succeeds, a share-link viewer too', async () => {
    const created = await request(`${k.url}/api/terminals`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ cols: 80, rows: 24, command: 'sleep 60' }) });
    assert.equal(created.status, 201, created.text);
    const { id } = created.json() as { id: string };
    const link = await request(`${k.url}/api/terminals/${id}/shares`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(link.status, 201, link.text);
    const { share } = link.json() as { share: string };
    const viewer = await openWs(`${k.wsUrl}/api/terminals/${id}/ws?share=${share}`);
    await waitFor(() => stats(k).unauthenticated_connections === 0, 'the viewer’s connection to leave the unauthenticated share');
    const flood = await Promise.all(Array.from({ length: 12 }, () => stranger(k.keel.port, 'silent')));
    await waitFor(() => stats(k).unauthenticated_evicted! >= 8 + 11, 'strangers making room among themselves');
    assert.equal(viewer.readyState, viewer.OPEN, 'the share-link viewer was not closed to make room');
    for (const s of flood) s.socket.destroy();
    await closeWs(viewer);
    assert.equal((await request(`${k.url}/api/terminals/${id}`, { method: 'DELETE', headers: k.authHeaders })).status, 204);
  });
});

describe('every slot authenticated', () => {
  test('a new connection gets 503 too_many_connections JSON and is closed; capacity returns when one leaves', async () => {
    const k = await startKeel({ maxHttpConnections: 8, maxLiveViewers: 8 });
    const held = [];
    try {
      for (let i = 0; i < 8; i++) held.push(await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders }));
      await waitFor(() => connectionsInUse(k, 'http_connections') === 8, '8 held connections');
      const res = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
      assert.equal(res.status, 503);
      assert.equal(res.headers.connection, 'close');
      const body = res.json();
      assert.equal(body.error, 'too_many_connections');
      assert.match(body.message, /--max-http-connections/);
      assert.equal(connectionsInUse(k, 'http_connections'), 8, 'a refused connection never holds a slot');

      await closeWs(held.pop()!);
      await waitFor(() => connectionsInUse(k, 'http_connections') === 7, 'a slot to be released');
      assert.equal((await request(`${k.url}/debug/memory`, { headers: k.authHeaders })).status, 200);
    } finally {
      for (const ws of held) await closeWs(ws);
      await k.close();
    }
  });
});

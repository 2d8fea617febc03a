/**
 * Issue 2 acceptance, security: token, cookie, Bearer, Host allow-list, Origin on upgrades and on
 * state-changing requests, body size limit. A real Keel on 127.0.0.1:0, real HTTP clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { closeWs, connectionsInUse, nextMessage, openWs, request, startKeel, upgradeHeaders, UpgradeRefused, waitFor, type TestKeel } from './helpers.ts';

function assertErrorShape(body: unknown, code: string): void {
  assert.ok(body && typeof body === 'object', `expected a JSON object, got ${JSON.stringify(body)}`);
  const b = body as Record<string, unknown>;
  assert.equal(b.error, code);
  assert.equal(typeof b.message, 'string');
  assert.ok((b.message as string).length > 10, 'message says what happened and what to do');
}

describe('auth', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel();
  });
  after(() => k.close());

  test('a protected route without credentials answers 401 with the JSON error shape', async () => {
    const res = await request(`${k.url}/debug/memory`);
    assert.equal(res.status, 401);
    assert.match(String(res.headers['content-type']), /application\/json/);
    assertErrorShape(res.json(), 'unauthorized');
  });

  test('a wrong Bearer token answers 401, the right one 200', async () => {
    const wrong = await request(`${k.url}/debug/memory`, { headers: { authorization: 'Bearer ' + 'x'.repeat(32) } });
    assert.equal(wrong.status, 401);
    assertErrorShape(wrong.json(), 'unauthorized');
    const right = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
    assert.equal(right.status, 200);
  });

  test('/?token= is exchanged for an HttpOnly, SameSite=Strict, Path=/ cookie that then authenticates', async () => {
    const res = await request(`${k.url}/?token=${k.token}`);
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, '/');
    const setCookie = res.headers['set-cookie'];
    assert.ok(setCookie && setCookie.length === 1, `one Set-Cookie, got ${JSON.stringify(setCookie)}`);
    const header = setCookie[0]!;
    const parts = header.split(';').map((p) => p.trim());
    assert.ok(parts.includes('HttpOnly'), header);
    assert.ok(parts.includes('SameSite=Strict'), header);
    assert.ok(parts.includes('Path=/'), header);
    assert.ok(!parts[0]!.includes(k.token), 'the cookie does not carry the token itself');

    const withCookie = await request(`${k.url}/debug/memory`, { headers: { cookie: parts[0]! } });
    assert.equal(withCookie.status, 200);
    const forged = await request(`${k.url}/debug/memory`, { headers: { cookie: parts[0]!.replace(/=.*/, '=forged') } });
    assert.equal(forged.status, 401);
  });

  test('a wrong ?token= sets no cookie and answers 401', async () => {
    const res = await request(`${k.url}/?token=${'y'.repeat(32)}`);
    assert.equal(res.status, 401);
    assert.equal(res.headers['set-cookie'], undefined);
  });

  test('the page shell and its assets need no credentials (they hold no data); the shell answers 401 without them', async () => {
    const shell = await request(`${k.url}/`);
    assert.equal(shell.status, 401);
    assert.match(String(shell.headers['content-type']), /text\/html/);
    assert.equal(shell.headers['cache-control'], 'no-store');
    const html = shell.body.toString();
    assert.ok(!html.includes(k.token), 'the shell never carries the token');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, `the shell links its script: ${html.slice(0, 400)}`);
    const js = await request(`${k.url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await request(`${k.url}/`, { headers: k.authHeaders })).status, 200);
    // Only web/dist/assets is public: no way out of it, and nothing else of the dist is served.
    for (const p of ['/assets/../index.html', '/assets/%2e%2e/index.html', '/assets/..%2f..%2fpackage.json', '/index.html']) {
      const res = await request(`${k.url}${p}`);
      assert.ok([401, 403, 404].includes(res.status), `${p} answered ${res.status}`);
    }
  });

  test('liveness and readiness probes need no credentials', async () => {
    assert.equal((await request(`${k.url}/healthz`)).status, 200);
    assert.equal((await request(`${k.url}/readyz`)).status, 200);
  });

  test('a WebSocket upgrade without credentials is refused with 401', async () => {
    await assert.rejects(openWs(`${k.wsUrl}/debug/live`), (err: unknown) => {
      assert.ok(err instanceof UpgradeRefused, String(err));
      assert.equal(err.status, 401);
      assertErrorShape(err.json(), 'unauthorized');
      return true;
    });
  });
});

describe('Host and Origin guards', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel({ allowedHosts: ['keel.example.com', '.corp.example'], allowedOrigins: ['https://keel.example.com'] });
  });
  after(() => k.close());

  test('an unknown Host is refused with 403 host_not_allowed (DNS rebinding)', async () => {
    const res = await request(`${k.url}/healthz`, { headers: { host: `evil.example:${k.keel.port}` } });
    assert.equal(res.status, 403);
    assertErrorShape(res.json(), 'host_not_allowed');
    // Even with valid credentials.
    const authed = await request(`${k.url}/debug/memory`, { headers: { ...k.authHeaders, host: 'rebind.attacker.test' } });
    assert.equal(authed.status, 403);
  });

  test('loopback names, IP literals and allowedHosts pass', async () => {
    for (const host of [`localhost:${k.keel.port}`, `127.0.0.1:${k.keel.port}`, `[::1]:${k.keel.port}`, '192.168.1.20:7717', '[fe80::1]', 'app.localhost', 'keel.example.com', 'a.corp.example']) {
      const res = await request(`${k.url}/healthz`, { headers: { host } });
      assert.equal(res.status, 200, `Host ${host}: ${res.text}`);
    }
  });

  test('a foreign Origin on a WebSocket upgrade is refused with 403', async () => {
    await assert.rejects(openWs(`${k.wsUrl}/debug/live`, { headers: { ...k.authHeaders, origin: 'http://evil.example' } }), (err: unknown) => {
      assert.ok(err instanceof UpgradeRefused, String(err));
      assert.equal(err.status, 403);
      assertErrorShape(err.json(), 'origin_not_allowed');
      return true;
    });
    // The refused upgrade's socket is closed on the server too (it used to stay half-open).
    await waitFor(() => connectionsInUse(k, 'http_connections') === 0, 'the refused upgrade connection to close');
  });

  test('same-origin and allowed Origins may upgrade', async () => {
    for (const origin of [k.url, 'https://keel.example.com']) {
      const ws = await openWs(`${k.wsUrl}/debug/live`, { headers: { ...k.authHeaders, origin } });
      await closeWs(ws);
    }
  });

  test('a foreign Origin on a POST is refused with 403, as is a cross-site request without Origin', async () => {
    const res = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST', headers: { ...k.authHeaders, origin: 'http://evil.example' } });
    assert.equal(res.status, 403);
    assertErrorShape(res.json(), 'origin_not_allowed');
    const nullOrigin = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST', headers: { ...k.authHeaders, origin: 'null' } });
    assert.equal(nullOrigin.status, 403);
    const crossSite = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST', headers: { ...k.authHeaders, 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.status, 403);
  });

  test('a foreign Origin on a GET is not refused (reads are not state-changing)', async () => {
    const res = await request(`${k.url}/debug/memory`, { headers: { ...k.authHeaders, origin: 'http://evil.example' } });
    assert.equal(res.status, 200);
  });
});

describe('limits', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel({ maxBodyBytes: 1024, maxLiveViewers: 1 });
  });
  after(() => k.close());

  test('an oversized body is refused with 413 body_too_large JSON', async () => {
    const body = JSON.stringify({ pad: 'x'.repeat(4096) });
    const res = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body });
    assert.equal(res.status, 413);
    assertErrorShape(res.json(), 'body_too_large');
    assert.match(res.json().message, /1024 bytes/);
  });

  test('a full slot limiter answers 503 too_many_connections JSON, and the slot is reusable after release', async () => {
    const first = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
    await waitFor(() => connectionsInUse(k, 'live_viewers') === 1, 'the first live viewer');
    await assert.rejects(openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders }), (err: unknown) => {
      assert.ok(err instanceof UpgradeRefused, String(err));
      assert.equal(err.status, 503);
      const body = err.json();
      assertErrorShape(body, 'too_many_connections');
      assert.equal(body.kind, 'live_viewers');
      assert.equal(body.limit, 1);
      assert.match(body.message, /--max-live-viewers/);
      return true;
    });
    await closeWs(first);
    await waitFor(() => connectionsInUse(k, 'live_viewers') === 0, 'the live viewer slot to be released');
    const again = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
    assert.equal(connectionsInUse(k, 'live_viewers'), 1);
    await closeWs(again);
    await waitFor(() => connectionsInUse(k, 'live_viewers') === 0, 'the live viewer slot to be released');
  });

  test('the live feed pushes a sample at once', async () => {
    const ws = await openWs(`${k.wsUrl}/debug/live`, { headers: k.authHeaders });
    const msg = await nextMessage(ws);
    const data = JSON.parse(msg);
    assert.equal(data.type, 'sample');
    assert.ok(data.memory.rss_mb > 0);
    await closeWs(ws);
  });
});

describe('maxHttpConnections', () => {
  test('connections over the cap get 503 too_many_connections JSON and are closed; capacity returns', async () => {
    const net = await import('node:net');
    const k = await startKeel({ maxHttpConnections: 8 });
    const held: import('node:net').Socket[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const s = net.connect(k.keel.port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
        held.push(s);
      }
      await waitFor(() => connectionsInUse(k, 'http_connections') === 8, '8 held connections');
      const res = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
      assert.equal(res.status, 503);
      assert.equal(res.headers.connection, 'close');
      assertErrorShape(res.json(), 'too_many_connections');
      assert.match(res.json().message, /--max-http-connections/);
      assert.equal(connectionsInUse(k, 'http_connections'), 8, 'a refused connection never holds a slot');

      held.pop()!.destroy();
      await waitFor(() => connectionsInUse(k, 'http_connections') === 7, 'a slot to be released');
      const ok = await request(`${k.url}/debug/memory`, { headers: k.authHeaders });
      assert.equal(ok.status, 200);
    } finally {
      for (const s of held) s.destroy();
      await k.close();
    }
  });
});

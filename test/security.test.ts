/**
 * Issue 2 acceptance, security: token, cookie, Bearer, Host allow-list, Origin on upgrades and on
 * state-changing requests, body size limit. Issue 10, point 7: router-level errors in Keel's shape
 * without echo, the Origin's scheme, security headers, sign-out, heap snapshot file modes.
 * A real Keel on 127.0.0.1:0, real HTTP clients (raw sockets where node:http would refuse).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closeWs, connectionsInUse, nextMessage, openWs, request, startKeel, UpgradeRefused, waitFor, type TestKeel } from './helpers.ts';
import { rawRequest } from './raw-http.ts';

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

describe('router-level errors: Keel’s shape, stable codes, nothing echoed, Host and Origin first', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel();
  });
  after(() => k.close());

  const LONG = 'b'.repeat(300);
  const cases: { name: string; method?: string; path: string; headers?: (k: TestKeel) => Record<string, string>; status: number; error: string }[] = [
    { name: 'bad %-escape', path: '/api/docs/%E0%A4%A', headers: (k) => k.authHeaders, status: 400, error: 'invalid_url' },
    { name: 'over-long id', path: `/api/docs/${LONG}`, headers: (k) => k.authHeaders, status: 414, error: 'url_too_long' },
    { name: 'no route', path: `/api/${LONG.slice(0, 50)}`, headers: (k) => k.authHeaders, status: 404, error: 'not_found' },
    { name: 'no route for the method', method: 'PUT', path: '/healthz', headers: (k) => k.authHeaders, status: 404, error: 'not_found' },
    { name: 'headers too large', path: '/healthz', headers: () => ({ 'X-Pad': 'p'.repeat(20_000) }), status: 431, error: 'headers_too_large' },
    { name: 'malformed request', method: 'POST', path: '/healthz', headers: () => ({ 'Content-Length': 'abc' }), status: 400, error: 'bad_request' },
    { name: 'unknown Host before the router', path: '/api/docs/%E0%A4%A', headers: () => ({ Host: 'rebind.evil.example' }), status: 403, error: 'host_not_allowed' },
    { name: 'foreign Origin before the router', method: 'POST', path: `/api/docs/${LONG}`, headers: () => ({ Origin: 'http://evil.example', 'Content-Length': '0' }), status: 403, error: 'origin_not_allowed' },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.status} ${c.error}`, async () => {
      const res = await rawRequest(k.keel.port, { method: c.method, path: c.path, headers: c.headers?.(k), after: 'close' });
      assert.equal(res.status, c.status, res.body);
      assert.match(res.headers['content-type'] ?? '', /application\/json/);
      assertErrorShape(JSON.parse(res.body), c.error);
      for (const echo of ['%E0', LONG.slice(0, 40), 'evil', 'ppppp', 'abc']) assert.ok(!res.body.includes(echo), `the answer echoes ${echo}: ${res.body}`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.ok(res.headers['content-security-policy'], 'security headers on refusals too');
    });
  }

  test('a body that is not JSON: 400 invalid_json without quoting it', async () => {
    const res = await request(`${k.url}/api/docs`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: '{"title": <script>alert(1)</script>' });
    assert.equal(res.status, 400);
    assertErrorShape(res.json(), 'invalid_json');
    assert.ok(!res.text.includes('script'), res.text);
  });
});

describe('Origin check compares the scheme', () => {
  test('an https page may not act on an http Keel, nor an http page on an https one; X-Forwarded-Proto counts only when trusted', async () => {
    const plain = await startKeel({ allowedHosts: ['keel.example.com'] });
    const proxied = await startKeel({ allowedHosts: ['keel.example.com'], trustForwardedProto: true });
    try {
      const host = 'keel.example.com';
      // Sign-out: a state-changing request with no other effect on the server.
      const post = (k: TestKeel, origin: string, proto?: string) =>
        request(`${k.url}/api/auth/signout`, { method: 'POST', headers: { ...k.authHeaders, host, origin, ...(proto ? { 'x-forwarded-proto': proto } : {}) } });
      const passed = (status: number) => status === 204;
      assert.ok(passed((await post(plain, `http://${host}`)).status), 'same scheme passes');
      const https = await post(plain, `https://${host}`);
      assert.equal(https.status, 403, 'an https origin against plain http');
      assertErrorShape(https.json(), 'origin_not_allowed');
      assert.equal((await post(plain, `https://${host}`, 'https')).status, 403, 'X-Forwarded-Proto is ignored unless trusted');
      assert.ok(passed((await post(proxied, `https://${host}`, 'https')).status), 'trusted proxy: https page, https scheme');
      assert.equal((await post(proxied, `http://${host}`, 'https')).status, 403, 'trusted proxy: an http page may not act on the https Keel');
      assert.equal((await post(proxied, `https://${host}`)).status, 403, 'trusted but no header: http');

      await assert.rejects(openWs(`${plain.wsUrl}/debug/live`, { headers: { ...plain.authHeaders, origin: `https://127.0.0.1:${plain.keel.port}` } }), (err: unknown) => {
        assert.ok(err instanceof UpgradeRefused, String(err));
        assert.equal(err.status, 403);
        return true;
      });
      const ws = await openWs(`${plain.wsUrl}/debug/live`, { headers: { ...plain.authHeaders, origin: `http://127.0.0.1:${plain.keel.port}` } });
      await closeWs(ws);
    } finally {
      await plain.close();
      await proxied.close();
    }
  });
});

describe('security headers', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel();
  });
  after(() => k.close());

  test('every page and asset carries the CSP and the usual headers', async () => {
    const shell = await request(`${k.url}/`, { headers: k.authHeaders });
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(shell.text)?.[1];
    assert.ok(asset, 'the shell links its script');
    const answers = {
      shell,
      'signed-out shell': await request(`${k.url}/`),
      'bad token page': await request(`${k.url}/?token=${'z'.repeat(32)}`),
      asset: await request(`${k.url}${asset}`),
      '/debug': await request(`${k.url}/debug`, { headers: k.authHeaders }),
      json: await request(`${k.url}/healthz`),
      error: await request(`${k.url}/nope`, { headers: k.authHeaders }),
    };
    for (const [name, res] of Object.entries(answers)) {
      const csp = String(res.headers['content-security-policy'] ?? '');
      assert.match(csp, /default-src 'self'/, `${name}: ${csp}`);
      assert.match(csp, /script-src 'self'(;|$)/, `${name}: scripts only from Keel`);
      assert.match(csp, /frame-ancestors 'none'/, name);
      assert.match(csp, /object-src 'none'/, name);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', name);
      assert.equal(res.headers['x-frame-options'], 'DENY', name);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', name);
      assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin', name);
    }
  });
});

describe('sign-out', () => {
  let k: TestKeel;
  before(async () => {
    k = await startKeel();
  });
  after(() => k.close());

  test('POST /api/auth/signout answers 204 with a Set-Cookie that expires the cookie', async () => {
    const res = await request(`${k.url}/api/auth/signout`, { method: 'POST', headers: { origin: k.url } });
    assert.equal(res.status, 204);
    assert.equal(res.headers['cache-control'], 'no-store');
    const header = res.headers['set-cookie']?.[0] ?? '';
    const parts = header.split(';').map((p) => p.trim());
    assert.equal(parts[0], 'keel_auth=', header);
    assert.ok(parts.includes('Max-Age=0') && parts.some((p) => p.startsWith('Expires=Thu, 01 Jan 1970')), header);
    assert.ok(parts.includes('Path=/') && parts.includes('HttpOnly') && parts.includes('SameSite=Strict'), 'same attributes as the cookie it replaces');
  });

  test('another site cannot sign the user out', async () => {
    const res = await request(`${k.url}/api/auth/signout`, { method: 'POST', headers: { origin: 'http://evil.example' } });
    assert.equal(res.status, 403);
    assert.equal(res.headers['set-cookie'], undefined);
  });
});

describe('heap snapshot files', () => {
  test('are created 0600 in a 0700 directory, also when the directory existed with a wider mode', async () => {
    const k = await startKeel({ maxHeapSnapshots: 1 });
    const umask = process.umask(0o022);
    try {
      const dir = path.join(k.dataDir, 'heapsnapshots');
      fs.mkdirSync(dir, { mode: 0o755 });
      fs.chmodSync(dir, 0o755);
      const res = await request(`${k.url}/debug/heapsnapshot`, { method: 'POST', headers: k.authHeaders, timeoutMs: 60_000 });
      assert.equal(res.status, 201, res.text);
      const file = res.json().path as string;
      assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the snapshot file');
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700, 'its directory');
    } finally {
      process.umask(umask);
      await k.close();
    }
  });
});

describe('while Keel closes', () => {
  test('a request on a connection still open gets 503 shutting_down in Keel’s shape', async () => {
    const net = await import('node:net');
    const k = await startKeel();
    const s = net.connect(k.keel.port, '127.0.0.1');
    s.on('error', () => {});
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    try {
      await new Promise((r) => s.once('connect', r));
      // A request whose body is still coming keeps the connection busy, so closing does not cut it.
      s.write(`POST /api/auth/signout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{`);
      await waitFor(() => got.includes('100 Continue'), 'the request to be under way');
      const closing = k.close();
      await waitFor(() => !k.keel.app.server.listening, 'the server to stop listening');
      s.write(`}GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await waitFor(() => got.split('HTTP/1.1 ').length > 3 && got.trimEnd().endsWith('}'), 'two answers after the 100 Continue');
      const second = got.slice(got.lastIndexOf('HTTP/1.1 '));
      assert.match(second, /^HTTP\/1\.1 503/);
      assertErrorShape(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)), 'shutting_down');
      s.destroy();
      await closing;
    } finally {
      s.destroy();
      await k.close();
    }
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHostAndOrigin, hostnameOf, isHostAllowed, isOriginAllowed, requestScheme } from './guards.ts';

test('hostnameOf strips ports and IPv6 brackets, lowercases', () => {
  assert.equal(hostnameOf('Example.COM:7717'), 'example.com');
  assert.equal(hostnameOf('example.com'), 'example.com');
  assert.equal(hostnameOf('[::1]:7717'), '::1');
  assert.equal(hostnameOf('[fe80::1]'), 'fe80::1');
  assert.equal(hostnameOf(' 127.0.0.1:80 '), '127.0.0.1');
  assert.equal(hostnameOf('[::1'), '[::1', 'an unterminated bracket is left as is (and then refused)');
});

test('isHostAllowed: loopback names, *.localhost and IP literals pass; others need allowedHosts', () => {
  for (const h of ['localhost:7717', 'LOCALHOST', '127.0.0.1:7717', '[::1]:7717', 'app.localhost:1', '10.0.0.5:7717', '[2001:db8::1]:7717', '192.168.1.1']) {
    assert.equal(isHostAllowed(h, []), true, h);
  }
  for (const h of ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', 'keel.example.com:7717', '', ':7717', '[::1']) {
    assert.equal(isHostAllowed(h, []), false, h);
  }
  assert.equal(isHostAllowed(undefined, []), false);
  assert.equal(isHostAllowed('keel.example.com:7717', ['Keel.Example.com']), true);
  assert.equal(isHostAllowed('a.b.corp.example', ['.corp.example']), true, 'a leading dot allows subdomains');
  assert.equal(isHostAllowed('corpexample', ['.corp.example']), false);
  assert.equal(isHostAllowed('evilcorp.example', ['.corp.example']), false);
});

test('isOriginAllowed: same origin as Host, or listed', () => {
  assert.equal(isOriginAllowed('http://127.0.0.1:7717', '127.0.0.1:7717', undefined, [], 'http'), true);
  assert.equal(isOriginAllowed('http://LOCALHOST:7717', 'localhost:7717', 'same-origin', [], 'http'), true);
  assert.equal(isOriginAllowed('http://[::1]:7717', '[::1]:7717', undefined, [], 'http'), true, 'IPv6');
  assert.equal(isOriginAllowed('http://127.0.0.1:7718', '127.0.0.1:7717', undefined, [], 'http'), false, 'other port');
  assert.equal(isOriginAllowed('http://evil.example', '127.0.0.1:7717', undefined, [], 'http'), false);
  assert.equal(isOriginAllowed('https://keel.example.com', '127.0.0.1:7717', undefined, ['https://keel.example.com/'], 'http'), true);
  assert.equal(isOriginAllowed('https://keel.example.com', '127.0.0.1:7717', undefined, ['https://keel.example.com:8443'], 'http'), false);
  assert.equal(isOriginAllowed('http://127.0.0.1:7717', undefined, undefined, [], 'http'), false, 'no Host to compare');
});

test('isOriginAllowed: null, malformed and non-HTTP origins are refused', () => {
  assert.equal(isOriginAllowed('null', '127.0.0.1:7717', undefined, [], 'http'), false);
  assert.equal(isOriginAllowed('not a url', '127.0.0.1:7717', undefined, [], 'http'), false);
  assert.equal(isOriginAllowed('file://127.0.0.1:7717', '127.0.0.1:7717', undefined, [], 'http'), false);
  assert.equal(isOriginAllowed('chrome-extension://abc', 'abc', undefined, [], 'http'), false);
});

test('isOriginAllowed: without Origin, only a browser-marked cross-site request is refused', () => {
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', undefined, [], 'http'), true, 'curl sends neither');
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', 'same-origin', [], 'http'), true);
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', 'none', [], 'http'), true);
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', 'cross-site', [], 'http'), false);
});

test('isOriginAllowed: the scheme must match the one Keel was reached by', () => {
  assert.equal(isOriginAllowed('https://127.0.0.1:7717', '127.0.0.1:7717', undefined, [], 'http'), false, 'https page, http Keel');
  assert.equal(isOriginAllowed('http://keel.example.com', 'keel.example.com', undefined, [], 'https'), false, 'http page, https Keel');
  assert.equal(isOriginAllowed('https://keel.example.com', 'keel.example.com', undefined, [], 'https'), true);
  assert.equal(isOriginAllowed('https://keel.example.com', 'keel.example.com:443', undefined, [], 'https'), true, 'default port in Host');
  assert.equal(isOriginAllowed('http://keel.example.com', 'keel.example.com:80', undefined, [], 'http'), true, 'default port in Host');
  assert.equal(isOriginAllowed('https://keel.example.com', 'keel.example.com:80', undefined, [], 'https'), false, 'another port');
  assert.equal(isOriginAllowed('https://keel.example.com', '127.0.0.1:7717', undefined, ['https://keel.example.com'], 'http'), true, 'listed origins are exact and need no Host match');
  assert.equal(isOriginAllowed('http://keel.example.com', '127.0.0.1:7717', undefined, ['https://keel.example.com'], 'http'), false, 'a listed https origin does not admit its http twin');
});

test('requestScheme: TLS socket, or X-Forwarded-Proto only when trusted', () => {
  const req = (headers: Record<string, string>, encrypted = false) => ({ socket: { encrypted }, headers });
  assert.equal(requestScheme(req({}), false), 'http');
  assert.equal(requestScheme(req({}, true), false), 'https');
  assert.equal(requestScheme(req({ 'x-forwarded-proto': 'https' }), false), 'http', 'not trusted by default');
  assert.equal(requestScheme(req({ 'x-forwarded-proto': 'https' }), true), 'https');
  assert.equal(requestScheme(req({ 'x-forwarded-proto': 'HTTPS, http' }), true), 'https', 'the first hop counts');
  assert.equal(requestScheme(req({ 'x-forwarded-proto': 'http, https' }), true), 'http');
  assert.equal(requestScheme(req({ 'x-forwarded-proto': 'gopher' }), true), 'http');
});

test('checkHostAndOrigin: Host on everything, Origin on upgrades and unsafe methods, messages without the values sent', () => {
  const o = { allowedHosts: [], allowedOrigins: [], trustForwardedProto: false };
  const req = (method: string, headers: Record<string, string>) => ({ method, socket: {}, headers });
  assert.equal(checkHostAndOrigin(req('GET', { host: '127.0.0.1:7717' }), false, o), undefined);
  const host = checkHostAndOrigin(req('GET', { host: 'evil.example' }), false, o);
  assert.equal(host?.error, 'host_not_allowed');
  assert.ok(!host!.message.includes('evil'));
  assert.equal(checkHostAndOrigin(req('GET', { host: '127.0.0.1:7717', origin: 'http://evil.example' }), false, o), undefined, 'reads are not state-changing');
  const post = checkHostAndOrigin(req('POST', { host: '127.0.0.1:7717', origin: 'http://evil.example' }), false, o);
  assert.equal(post?.error, 'origin_not_allowed');
  assert.ok(!post!.message.includes('evil'));
  assert.equal(checkHostAndOrigin(req('GET', { host: '127.0.0.1:7717', origin: 'http://evil.example' }), true, o)?.error, 'origin_not_allowed', 'upgrades');
  assert.equal(checkHostAndOrigin(req('GET', { host: '127.0.0.1:7717', origin: 'http://evil.example', upgrade: 'websocket' }), false, o)?.error, 'origin_not_allowed', 'a websocket request Node did not upgrade');
});

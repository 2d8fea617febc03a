import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostnameOf, isHostAllowed, isOriginAllowed } from './guards.ts';

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
  assert.equal(isOriginAllowed('http://127.0.0.1:7717', '127.0.0.1:7717', undefined, []), true);
  assert.equal(isOriginAllowed('http://LOCALHOST:7717', 'localhost:7717', 'same-origin', []), true);
  assert.equal(isOriginAllowed('http://[::1]:7717', '[::1]:7717', undefined, []), true, 'IPv6');
  assert.equal(isOriginAllowed('http://127.0.0.1:7718', '127.0.0.1:7717', undefined, []), false, 'other port');
  assert.equal(isOriginAllowed('http://evil.example', '127.0.0.1:7717', undefined, []), false);
  assert.equal(isOriginAllowed('https://keel.example.com', '127.0.0.1:7717', undefined, ['https://keel.example.com/']), true);
  assert.equal(isOriginAllowed('https://keel.example.com', '127.0.0.1:7717', undefined, ['https://keel.example.com:8443']), false);
  assert.equal(isOriginAllowed('http://127.0.0.1:7717', undefined, undefined, []), false, 'no Host to compare');
});

test('isOriginAllowed: null, malformed and non-HTTP origins are refused', () => {
  assert.equal(isOriginAllowed('null', '127.0.0.1:7717', undefined, []), false);
  assert.equal(isOriginAllowed('not a url', '127.0.0.1:7717', undefined, []), false);
  assert.equal(isOriginAllowed('file://127.0.0.1:7717', '127.0.0.1:7717', undefined, []), false);
  assert.equal(isOriginAllowed('chrome-extension://abc', 'abc', undefined, []), false);
});

test('isOriginAllowed: without Origin, only a browser-marked cross-site request is refused', () => {
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', undefined, []), true, 'curl sends neither');
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', 'same-origin', []), true);
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', 'none', []), true);
  assert.equal(isOriginAllowed(undefined, '127.0.0.1:7717', 'cross-site', []), false);
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Auth, COOKIE_NAME, loadOrCreateToken, readCookie } from './auth.ts';

const TOKEN = 'abcdefghijklmnopqrstuvwx';

test('principal: Bearer token or cookie grants owner; anything else nothing', () => {
  const a = new Auth(TOKEN);
  assert.deepEqual(a.principal({ authorization: `Bearer ${TOKEN}` }), { role: 'owner' });
  assert.deepEqual(a.principal({ cookie: `x=1; ${COOKIE_NAME}=${a.cookieValue()}` }), { role: 'owner' });
  assert.equal(a.principal({}), null);
  assert.equal(a.principal({ authorization: `Bearer ${TOKEN}x` }), null);
  assert.equal(a.principal({ authorization: `Basic ${TOKEN}` }), null);
  assert.equal(a.principal({ cookie: `${COOKIE_NAME}=${TOKEN}` }), null, 'the raw token is not a cookie value');
  assert.notEqual(a.cookieValue(), TOKEN);
});

test('cookie header carries HttpOnly, SameSite=Strict, Path=/ and Secure only over HTTPS', () => {
  const a = new Auth(TOKEN);
  const plain = a.cookieHeader(false);
  assert.match(plain, /; Path=\/; HttpOnly; SameSite=Strict/);
  assert.doesNotMatch(plain, /Secure/);
  assert.match(a.cookieHeader(true), /; Secure/);
});

test('signatures are bound to the token', () => {
  const a = new Auth(TOKEN);
  const sig = a.sign('terminal:1');
  assert.equal(a.verify('terminal:1', sig), true);
  assert.equal(a.verify('terminal:2', sig), false);
  assert.equal(new Auth(TOKEN.replace('a', 'b')).verify('terminal:1', sig), false);
});

test('readCookie', () => {
  assert.equal(readCookie('a=1; b = 2 ;c=3', 'b'), '2');
  assert.equal(readCookie('a=1', 'b'), undefined);
  assert.equal(readCookie(undefined, 'b'), undefined);
  assert.equal(readCookie('junk; b=x=y', 'b'), 'x=y');
});

test('loadOrCreateToken creates a 0600 token once and reuses it; a configured one wins', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-auth-'));
  try {
    const t1 = loadOrCreateToken(dir, '');
    assert.match(t1, /^[A-Za-z0-9_-]{16,}$/);
    assert.equal(fs.statSync(path.join(dir, 'token')).mode & 0o777, 0o600);
    assert.equal(loadOrCreateToken(dir, ''), t1);
    assert.equal(loadOrCreateToken(dir, TOKEN), TOKEN);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

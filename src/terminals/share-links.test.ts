/** ShareLinks on real SQLite with a fake clock: what a token binds, expiry, revoke, bounds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../core/clock.ts';
import { Auth } from '../http/auth.ts';
import { openDatabase } from '../store/db.ts';
import { ShareLinks, type LinkHolder } from './share-links.ts';

const HOUR = 3_600_000;

function setup(o: Partial<{ defaultTtlMs: number; maxTtlMs: number; maxLinks: number }> = {}) {
  const db = openDatabase(':memory:');
  const clock = new FakeClock();
  const auth = new Auth('test-token-0123456789abcdef');
  const links = new ShareLinks(db, auth, clock, { defaultTtlMs: 24 * HOUR, maxTtlMs: 7 * 24 * HOUR, maxLinks: 8, ...o });
  return { db, clock, auth, links, done: () => (links.dispose(), db.close()) };
}

function holder(): LinkHolder & { closed: { code: number; reason: string }[] } {
  const closed: { code: number; reason: string }[] = [];
  return { closed, close: (code, reason) => closed.push({ code, reason }) };
}

describe('ShareLinks', () => {
  it('a token opens its own terminal only, and only as issued: id, terminal and expiry are bound', () => {
    const { links, auth, done } = setup();
    try {
      const l = links.create('t_one');
      const token = links.token(l);
      assert.equal(links.verify('t_one', token)?.id, l.id);
      assert.equal(links.verify('t_two', token), undefined, 'another terminal');
      const [id, expiry, sig] = token.split('.') as [string, string, string];
      assert.equal(links.verify('t_one', `${id}.${Number(expiry) + 1}.${sig}`), undefined, 'a longer expiry');
      const other = links.create('t_one');
      assert.equal(links.verify('t_one', `${other.id}.${expiry}.${sig}`), undefined, 'another link id');
      assert.equal(links.verify('t_one', `${id}.${expiry}.${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`), undefined, 'a changed signature');
      // The old stateless capability (an HMAC of the terminal id) opens nothing.
      assert.equal(links.verify('t_one', auth.sign('share:terminal:t_one')), undefined);
      for (const bad of ['', '.', 'x'.repeat(500), `${id}..${sig}`, `${id}.${expiry}`, `${token}.x`]) assert.equal(links.verify('t_one', bad), undefined, JSON.stringify(bad));
    } finally {
      done();
    }
  });

  it('expiry: the link stops working at its time, its holders are closed with 1008 "share link expired", the record goes', () => {
    const { links, clock, done } = setup();
    try {
      const l = links.create('t_one', 60_000);
      const token = links.token(l);
      const h = holder();
      const d = links.attach(l.id, h);
      assert.equal(links.viewerCount(l.id), 1);
      clock.advance(59_999);
      assert.ok(links.verify('t_one', token));
      assert.deepEqual(h.closed, []);
      clock.advance(1);
      assert.deepEqual(h.closed, [{ code: 1008, reason: 'share link expired' }]);
      assert.equal(links.verify('t_one', token), undefined);
      assert.deepEqual(links.list(), []);
      assert.equal(links.expiredTotal, 1);
      assert.equal(links.attachedLinks, 0);
      d.dispose();
    } finally {
      done();
    }
  });

  it('a ttl over the maximum is clamped; no ttl takes the default; timers longer than Node allows still fire on time', () => {
    const { links, clock, done } = setup({ maxTtlMs: 40 * 24 * HOUR, defaultTtlMs: 24 * HOUR });
    try {
      const now = clock.now();
      assert.equal(links.create('t_one').expiresAt, now + 24 * HOUR);
      const long = links.create('t_one', 365 * 24 * HOUR);
      assert.equal(long.expiresAt, now + 40 * 24 * HOUR);
      const h = holder();
      links.attach(long.id, h);
      clock.advance(40 * 24 * HOUR - 1);
      assert.deepEqual(h.closed, [], 'not early (a single 40-day setTimeout would overflow and fire at once)');
      clock.advance(1);
      assert.equal(h.closed.length, 1);
    } finally {
      done();
    }
  });

  it('revoke: closes its holders with 1008 "share link revoked" and the token stops working at once; others are untouched', () => {
    const { links, done } = setup();
    try {
      const a = links.create('t_one');
      const b = links.create('t_one');
      const ha = holder();
      const hb = holder();
      links.attach(a.id, ha);
      links.attach(b.id, hb);
      assert.equal(links.revoke(a.id), true);
      assert.deepEqual(ha.closed, [{ code: 1008, reason: 'share link revoked' }]);
      assert.deepEqual(hb.closed, []);
      assert.equal(links.verify('t_one', links.token(a)), undefined);
      assert.ok(links.verify('t_one', links.token(b)));
      assert.equal(links.revoke(a.id), false, 'twice: nothing to revoke');
      assert.deepEqual(links.list('t_one').map((l) => l.id), [b.id]);
    } finally {
      done();
    }
  });

  it('bounded: at --max-terminal-share-links, create is refused with 409 until one goes; a terminal that ends takes its links', () => {
    const { links, done } = setup({ maxLinks: 3 });
    try {
      const made = [links.create('t_one'), links.create('t_two'), links.create('t_two')];
      assert.throws(() => links.create('t_one'), (e: any) => e.status === 409 && e.code === 'too_many_share_links' && /--max-terminal-share-links/.test(e.message));
      links.revoke(made[0]!.id);
      links.create('t_one');
      links.forgetTerminal('t_two');
      assert.deepEqual(links.list().map((l) => l.terminalId), ['t_one']);
      assert.equal(links.list('t_two').length, 0);
      assert.equal(links.count, 1);
    } finally {
      done();
    }
  });

  it('records from a previous run are dropped at start (no terminal id survives a restart)', () => {
    const { db, auth, clock, links, done } = setup();
    try {
      links.create('t_one');
      const again = new ShareLinks(db, auth, clock, { defaultTtlMs: HOUR, maxTtlMs: HOUR, maxLinks: 8 });
      assert.equal(again.count, 0);
      again.dispose();
    } finally {
      done();
    }
  });
});

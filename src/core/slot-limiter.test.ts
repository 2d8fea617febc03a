import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeelError, TooManyConnectionsError, CloseCode } from './errors.ts';
import { SlotLimiter } from './slot-limiter.ts';

test('caps concurrent slots and throws a typed error past the cap', () => {
  const l = new SlotLimiter('viewers', 2, { option: '--max-viewers' });
  const a = l.acquire();
  const b = l.acquire();
  assert.equal(l.inUse, 2);
  assert.throws(() => l.acquire(), (err: unknown) => {
    assert.ok(err instanceof TooManyConnectionsError);
    assert.ok(err instanceof KeelError);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'too_many_connections');
    assert.equal(err.closeCode, CloseCode.tryAgainLater);
    assert.equal(err.kind, 'viewers');
    assert.equal(err.limit, 2);
    assert.match(err.message, /--max-viewers/);
    assert.deepEqual(err.toJSON(), { error: 'too_many_connections', message: err.message, kind: 'viewers', limit: 2 });
    return true;
  });
  assert.equal(l.tryAcquire(), undefined);
  assert.equal(l.refused, 2);
  a.dispose();
  b.dispose();
});

test('a slot is released exactly once, and is then reusable', () => {
  const l = new SlotLimiter('x', 1);
  const s = l.acquire();
  s.dispose();
  s.dispose();
  assert.equal(l.inUse, 0, 'double dispose does not go negative');
  const again = l.acquire();
  assert.equal(again.kind, 'x');
  assert.equal(l.inUse, 1);
  s.dispose();
  assert.equal(l.inUse, 1, 'an old slot cannot release a new one');
  again.dispose();
  assert.equal(l.inUse, 0);
});

test('the admission check refuses before counting', () => {
  let shedding = true;
  const l = new SlotLimiter('x', 5, {
    admit: () => {
      if (shedding) throw new KeelError(503, 'overloaded', 'busy');
    },
  });
  assert.throws(() => l.acquire(), /busy/);
  assert.equal(l.inUse, 0);
  assert.equal(l.refused, 1);
  shedding = false;
  l.acquire().dispose();
});

test('a zero cap refuses everything; bad caps are rejected', () => {
  assert.throws(() => new SlotLimiter('z', 0).acquire(), TooManyConnectionsError);
  assert.throws(() => new SlotLimiter('z', -1), RangeError);
  assert.throws(() => new SlotLimiter('z', 1.5), RangeError);
});

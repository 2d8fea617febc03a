import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { DisposableBase, DisposableStore, listen, toDisposable } from './lifecycle.ts';

test('toDisposable runs its function once', () => {
  let n = 0;
  const d = toDisposable(() => n++);
  d.dispose();
  d.dispose();
  assert.equal(n, 1);
});

test('DisposableStore disposes in reverse order of registration, once', () => {
  const order: number[] = [];
  const store = new DisposableStore();
  for (let i = 0; i < 4; i++) store.add(toDisposable(() => order.push(i)));
  assert.equal(store.size, 4);
  store.dispose();
  store.dispose();
  assert.deepEqual(order, [3, 2, 1, 0]);
  assert.equal(store.isDisposed, true);
  assert.equal(store.size, 0);
});

test('adding to a disposed store disposes the item at once (even if it throws)', () => {
  const store = new DisposableStore();
  store.dispose();
  let disposed = false;
  const item = store.add(toDisposable(() => (disposed = true)));
  assert.equal(disposed, true);
  assert.equal(store.size, 0);
  assert.ok(item);
  assert.doesNotThrow(() => store.add({ dispose: () => assert.fail('boom') }));
});

test('errors while disposing are aggregated; every item is still disposed', () => {
  const store = new DisposableStore();
  const done: string[] = [];
  store.add(toDisposable(() => done.push('a')));
  store.add({ dispose: () => { throw new Error('one'); } });
  store.add(toDisposable(() => done.push('c')));
  store.add({ dispose: () => { throw new Error('two'); } });
  assert.throws(() => store.dispose(), (err: unknown) => {
    assert.ok(err instanceof AggregateError);
    assert.deepEqual(err.errors.map((e: Error) => e.message), ['two', 'one']);
    return true;
  });
  assert.deepEqual(done, ['c', 'a']);
});

test('a single disposal error is rethrown as is', () => {
  const store = new DisposableStore();
  store.add({ dispose: () => { throw new RangeError('only'); } });
  assert.throws(() => store.dispose(), RangeError);
});

test('delete disposes one item and forgets it; release forgets without disposing', () => {
  const store = new DisposableStore();
  let a = 0;
  let b = 0;
  const da = store.add(toDisposable(() => a++));
  const db = store.add(toDisposable(() => b++));
  store.delete(da);
  assert.equal(a, 1);
  assert.equal(store.size, 1);
  store.release(db);
  assert.equal(store.size, 0);
  store.dispose();
  assert.equal(a, 1);
  assert.equal(b, 0, 'a released item is no longer owned');
});

test('listen removes its listener on dispose', () => {
  const e = new EventEmitter();
  let n = 0;
  const d = listen(e, 'x', () => n++);
  e.emit('x');
  d.dispose();
  e.emit('x');
  assert.equal(n, 1);
  assert.equal(e.listenerCount('x'), 0);
});

test('DisposableBase ties registered items to its own lifetime', () => {
  let n = 0;
  class Owner extends DisposableBase {
    constructor() {
      super();
      this.register(toDisposable(() => n++));
    }
  }
  const o = new Owner();
  assert.equal(o.isDisposed, false);
  o.dispose();
  o.dispose();
  assert.equal(n, 1);
  assert.equal(o.isDisposed, true);
});

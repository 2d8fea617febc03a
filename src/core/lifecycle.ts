/**
 * Ownership of resources, after VS Code's `lifecycle.ts`: everything that must be released
 * (a PTY, a socket, a timer, a listener) is registered with an owner at the line that creates it,
 * and is released exactly once when that owner is disposed.
 */

export interface Disposable {
  dispose(): void;
}

/** Wraps a cleanup function so it runs at most once. */
export function toDisposable(fn: () => void): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      fn();
    },
  };
}

/** A listener added with `on` and removed with `off`, as one disposable (Engine.IO's cleanup list). */
export function listen<T extends { on(e: string, l: (...a: any[]) => void): unknown; off(e: string, l: (...a: any[]) => void): unknown }>(
  target: T,
  event: string,
  listener: (...args: any[]) => void,
): Disposable {
  target.on(event, listener);
  return toDisposable(() => target.off(event, listener));
}

export function disposeTimer(timer: NodeJS.Timeout): Disposable {
  return toDisposable(() => clearTimeout(timer));
}

/**
 * Owns disposables and disposes them once, in reverse order of registration.
 * Adding to a store that is already disposed disposes the item at once: a late
 * registration (after an await that raced with teardown) must not leak.
 */
export class DisposableStore implements Disposable {
  #items: Disposable[] = [];
  #disposed = false;

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Number of items currently owned (for leak assertions). */
  get size(): number {
    return this.#items.length;
  }

  add<T extends Disposable>(item: T): T {
    if (this.#disposed) {
      safeDispose(item);
      return item;
    }
    this.#items.push(item);
    return item;
  }

  /** Disposes one owned item now and forgets it, so stores of long-lived owners do not grow. */
  delete(item: Disposable): void {
    const i = this.#items.indexOf(item);
    if (i !== -1) this.#items.splice(i, 1);
    safeDispose(item);
  }

  /** Forgets an item without disposing it (ownership moved elsewhere). */
  release(item: Disposable): void {
    const i = this.#items.indexOf(item);
    if (i !== -1) this.#items.splice(i, 1);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const errors: unknown[] = [];
    for (let i = this.#items.length - 1; i >= 0; i--) {
      try {
        this.#items[i]!.dispose();
      } catch (err) {
        errors.push(err);
      }
    }
    this.#items = [];
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'errors while disposing');
  }
}

function safeDispose(item: Disposable): void {
  try {
    item.dispose();
  } catch {
    // Disposing into an already-disposed store is best-effort: the owner is gone, nobody can handle it.
  }
}

/** Base class for owners: `this.register(x)` ties x's lifetime to this object's. */
export abstract class DisposableBase implements Disposable {
  protected readonly store = new DisposableStore();

  get isDisposed(): boolean {
    return this.store.isDisposed;
  }

  protected register<T extends Disposable>(item: T): T {
    return this.store.add(item);
  }

  dispose(): void {
    this.store.dispose();
  }
}

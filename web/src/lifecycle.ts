/**
 * The browser side of Keel's memory contract: every listener, timer, socket and child view is
 * registered with an owner at the line that creates it, and released when the owner is disposed.
 * A tab open for weeks on a wall display must not grow either.
 */
export interface Disposable {
  dispose(): void;
}

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

export class DisposableStore implements Disposable {
  #items: Disposable[] = [];
  #disposed = false;

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Adds an item; adding to a disposed store disposes the item at once. */
  add<T extends Disposable>(d: T): T {
    if (this.#disposed) d.dispose();
    else this.#items.push(d);
    return d;
  }

  /** Removes and disposes one item early (e.g. a closed tab). */
  delete(d: Disposable): void {
    const i = this.#items.indexOf(d);
    if (i !== -1) this.#items.splice(i, 1);
    d.dispose();
  }

  /** Disposes everything added so far, in reverse order, and keeps accepting new items. */
  clear(): void {
    const items = this.#items;
    this.#items = [];
    for (let i = items.length - 1; i >= 0; i--) {
      try {
        items[i]!.dispose();
      } catch (err) {
        // One failing disposal must not keep the others alive.
        console.error('dispose failed', err);
      }
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.clear();
    this.#disposed = true;
  }
}

/** addEventListener whose removal is a Disposable. */
export function listen<K extends keyof HTMLElementEventMap>(target: HTMLElement, type: K, fn: (e: HTMLElementEventMap[K]) => void, opts?: AddEventListenerOptions): Disposable;
export function listen<K extends keyof WindowEventMap>(target: Window, type: K, fn: (e: WindowEventMap[K]) => void, opts?: AddEventListenerOptions): Disposable;
export function listen<K extends keyof DocumentEventMap>(target: Document, type: K, fn: (e: DocumentEventMap[K]) => void, opts?: AddEventListenerOptions): Disposable;
export function listen(target: EventTarget, type: string, fn: (e: Event) => void, opts?: AddEventListenerOptions): Disposable;
export function listen(target: EventTarget, type: string, fn: (e: never) => void, opts?: AddEventListenerOptions): Disposable {
  const f = fn as unknown as EventListener;
  target.addEventListener(type, f, opts);
  return toDisposable(() => target.removeEventListener(type, f, opts));
}

export function interval(fn: () => void, ms: number): Disposable {
  const t = setInterval(fn, ms);
  return toDisposable(() => clearInterval(t));
}

/** A restartable one-shot timer. */
export class Timer implements Disposable {
  #t: ReturnType<typeof setTimeout> | undefined;

  get pending(): boolean {
    return this.#t !== undefined;
  }

  set(fn: () => void, ms: number): void {
    this.cancel();
    this.#t = setTimeout(() => {
      this.#t = undefined;
      fn();
    }, ms);
  }

  cancel(): void {
    if (this.#t !== undefined) clearTimeout(this.#t);
    this.#t = undefined;
  }

  dispose(): void {
    this.cancel();
  }
}

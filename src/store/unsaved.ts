/**
 * A store's rows that were written while the database could not take them: kept here, keyed by
 * row, and visible to the store's readers until the StorageWriter has landed them. A row's write
 * reads the row from here when it runs, so however often the row changes while it waits, its newest
 * value is written once. `null` is a deleted row.
 */
import type { StorageWriter } from './writer.ts';

export interface UnsavedRowsOptions<V> {
  /** Prefix of the writer keys (the rows of one table share a namespace). */
  prefix: string;
  /** Writes the row (`null`: deletes it). Synchronous SQL. */
  write(key: string, value: V | null): void;
  /** What it is, in the user's words. */
  label(key: string, value: V | null): string;
  /** Bytes the row holds in memory. */
  bytes(value: V | null): number;
}

export class UnsavedRows<V> {
  readonly #writer: StorageWriter;
  readonly #o: UnsavedRowsOptions<V>;
  readonly #rows = new Map<string, V | null>();

  constructor(writer: StorageWriter, o: UnsavedRowsOptions<V>) {
    this.#writer = writer;
    this.#o = o;
  }

  /** The unsaved row: a value, `null` (deleted), or `undefined` (nothing unsaved: read the database). */
  get(key: string): V | null | undefined {
    return this.#rows.get(key);
  }

  get size(): number {
    return this.#rows.size;
  }

  entries(): IterableIterator<[string, V | null]> {
    return this.#rows.entries();
  }

  /**
   * Writes `value` for `key` now, or keeps it here until it can be. Throws what the writer throws
   * when it cannot keep it (503/507), leaving the row as it was.
   */
  put(key: string, value: V | null, opts: { userFacing?: boolean } = {}): 'written' | 'queued' {
    const had = this.#rows.has(key);
    const prev = this.#rows.get(key);
    this.#rows.set(key, value);
    let ran: V | null | undefined;
    const settle = () => {
      if (this.#rows.get(key) === ran) this.#rows.delete(key);
    };
    try {
      return this.#writer.write(
        {
          key: this.#o.prefix + key,
          label: this.#o.label(key, value),
          bytes: this.#o.bytes(value),
          run: () => {
            const v = this.#rows.get(key);
            if (v === undefined) return;
            ran = v;
            this.#o.write(key, v);
          },
          done: settle,
          // Lost for good (logged by the writer): readers see the database again.
          dropped: settle,
        },
        opts,
      );
    } catch (err) {
      if (had) this.#rows.set(key, prev as V | null);
      else this.#rows.delete(key);
      throw err;
    }
  }
}

/**
 * Open tabs in SQLite, so they survive a restart: each live session has a row tagged with this
 * run's boot id; rows from earlier runs are the "previous tabs" offered at start. The table holds at
 * most `maxTerminalSessions` live rows plus as many previous ones (older ones are pruned at start).
 *
 * Writes go through the storage writer (src/store/writer.ts): while the database cannot take them
 * they wait in memory (this run's rows in `#unsaved`), and a terminal never fails, waits or leaves a
 * shell behind because its tab could not be remembered. Past the writer's limits a tab is simply not
 * remembered for the next start (counted in the writer's `refused_total`).
 */
import crypto from 'node:crypto';
import type { Database } from '../store/db.ts';
import { migrate, storageOf } from '../store/db.ts';
import { UnsavedRows } from '../store/unsaved.ts';
import type { StorageWriter } from '../store/writer.ts';
import { KeelError } from '../core/errors.ts';

export interface TabRecord {
  id: string;
  name: string;
  cwd: string;
  command: string | null;
  cols: number;
  rows: number;
  createdAt: string;
}

interface Row {
  id: string;
  name: string;
  cwd: string;
  command: string | null;
  cols: number;
  rows: number;
  created_at: number;
}

const toRecord = (r: Row): TabRecord => ({ id: r.id, name: r.name, cwd: r.cwd, command: r.command, cols: r.cols, rows: r.rows, createdAt: new Date(r.created_at).toISOString() });

export class TabStore {
  readonly #db: Database;
  readonly #boot = crypto.randomBytes(8).toString('hex');
  readonly #writer: StorageWriter;
  /** This run's tabs not yet stored (`null`: removed). */
  readonly #unsaved: UnsavedRows<TabRecord>;
  /** A "forget previous tabs" waits to be stored: previous() already answers as if it were. */
  #forgetting = false;

  constructor(db: Database, maxPrevious: number) {
    this.#db = db;
    this.#writer = storageOf(db);
    migrate(db, 'terminals', [
      `CREATE TABLE terminal_tabs (
         id TEXT PRIMARY KEY, name TEXT NOT NULL, cwd TEXT NOT NULL, command TEXT,
         cols INTEGER NOT NULL, rows INTEGER NOT NULL, created_at INTEGER NOT NULL, boot TEXT NOT NULL)`,
    ]);
    const upsert = db.prepare('INSERT OR REPLACE INTO terminal_tabs (id, name, cwd, command, cols, rows, created_at, boot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const remove = db.prepare('DELETE FROM terminal_tabs WHERE id = ?');
    this.#unsaved = new UnsavedRows<TabRecord>(this.#writer, {
      prefix: 'tab:',
      write: (id, t) => (t ? upsert.run(t.id, t.name, t.cwd, t.command, t.cols, t.rows, Date.parse(t.createdAt), this.#boot) : remove.run(id)),
      label: (id, t) => (t ? `terminal tab ${id} (${JSON.stringify(t.name.slice(0, 60))})` : `removal of terminal tab ${id}`),
      bytes: (t) => 300 + (t ? (t.name.length + t.cwd.length + (t.command?.length ?? 0)) * 2 : 0),
    });
    // Keep only the newest previous tabs: repeated restarts without restoring must not grow the table.
    this.#keep({
      key: 'tabs:prune',
      label: 'pruning old terminal tabs',
      bytes: 100,
      run: () => void db.prepare(`DELETE FROM terminal_tabs WHERE id NOT IN (SELECT id FROM terminal_tabs ORDER BY created_at DESC LIMIT ?)`).run(maxPrevious),
    });
  }

  /** Remembering tabs is best effort: past the writer's limits a tab is not remembered, and the terminal works on. */
  #keep(op: Parameters<StorageWriter['write']>[0]): void {
    try {
      this.#writer.write(op);
    } catch (err) {
      if (!(err instanceof KeelError)) throw err;
    }
  }

  #put(id: string, t: TabRecord | null): void {
    try {
      this.#unsaved.put(id, t);
    } catch (err) {
      if (!(err instanceof KeelError)) throw err;
    }
  }

  #current(id: string): TabRecord | undefined {
    const u = this.#unsaved.get(id);
    if (u !== undefined) return u ?? undefined;
    const r = this.#db.prepare('SELECT * FROM terminal_tabs WHERE id = ?').get(id) as Row | undefined;
    return r && toRecord(r);
  }

  add(t: TabRecord): void {
    this.#put(t.id, t);
  }

  update(id: string, fields: { name?: string; cols?: number; rows?: number }): void {
    const cur = this.#current(id);
    if (!cur) return;
    this.#put(id, { ...cur, name: fields.name ?? cur.name, cols: fields.cols ?? cur.cols, rows: fields.rows ?? cur.rows });
  }

  remove(id: string): void {
    this.#put(id, null);
  }

  /** Tabs that were open when Keel last stopped, oldest first. */
  previous(): TabRecord[] {
    if (this.#forgetting) return [];
    return (this.#db.prepare('SELECT * FROM terminal_tabs WHERE boot != ? ORDER BY created_at, id').all(this.#boot) as unknown as Row[]).map(toRecord);
  }

  forgetPrevious(): number {
    const n = this.previous().length;
    this.#forgetting = true;
    const settle = () => (this.#forgetting = false);
    try {
      this.#writer.write({ key: 'tabs:forget', label: 'forgetting the previous run’s terminal tabs', bytes: 100, run: () => void this.#db.prepare('DELETE FROM terminal_tabs WHERE boot != ?').run(this.#boot), done: settle, dropped: settle });
    } catch (err) {
      settle();
      if (!(err instanceof KeelError)) throw err;
      return 0;
    }
    return n;
  }
}

/**
 * Open tabs in SQLite, so they survive a restart: each live session has a row tagged with this
 * run's boot id; rows from earlier runs are the "previous tabs" offered at start. The table holds at
 * most `maxTerminalSessions` live rows plus as many previous ones (older ones are pruned at start).
 */
import crypto from 'node:crypto';
import type { Database } from '../store/db.ts';
import { migrate } from '../store/db.ts';

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

  constructor(db: Database, maxPrevious: number) {
    this.#db = db;
    migrate(db, 'terminals', [
      `CREATE TABLE terminal_tabs (
         id TEXT PRIMARY KEY, name TEXT NOT NULL, cwd TEXT NOT NULL, command TEXT,
         cols INTEGER NOT NULL, rows INTEGER NOT NULL, created_at INTEGER NOT NULL, boot TEXT NOT NULL)`,
    ]);
    // Keep only the newest previous tabs: repeated restarts without restoring must not grow the table.
    db.prepare(`DELETE FROM terminal_tabs WHERE id NOT IN (SELECT id FROM terminal_tabs ORDER BY created_at DESC LIMIT ?)`).run(maxPrevious);
  }

  add(t: TabRecord): void {
    this.#db
      .prepare('INSERT OR REPLACE INTO terminal_tabs (id, name, cwd, command, cols, rows, created_at, boot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(t.id, t.name, t.cwd, t.command, t.cols, t.rows, Date.parse(t.createdAt), this.#boot);
  }

  update(id: string, fields: { name?: string; cols?: number; rows?: number }): void {
    const cur = this.#db.prepare('SELECT name, cols, rows FROM terminal_tabs WHERE id = ?').get(id) as { name: string; cols: number; rows: number } | undefined;
    if (!cur) return;
    this.#db.prepare('UPDATE terminal_tabs SET name = ?, cols = ?, rows = ? WHERE id = ?').run(fields.name ?? cur.name, fields.cols ?? cur.cols, fields.rows ?? cur.rows, id);
  }

  remove(id: string): void {
    this.#db.prepare('DELETE FROM terminal_tabs WHERE id = ?').run(id);
  }

  /** Tabs that were open when Keel last stopped, oldest first. */
  previous(): TabRecord[] {
    return (this.#db.prepare('SELECT * FROM terminal_tabs WHERE boot != ? ORDER BY created_at, id').all(this.#boot) as unknown as Row[]).map(toRecord);
  }

  forgetPrevious(): number {
    return Number(this.#db.prepare('DELETE FROM terminal_tabs WHERE boot != ?').run(this.#boot).changes);
  }
}

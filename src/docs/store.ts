/**
 * Documents on disk: one SQLite row per document with its metadata and its Yjs state
 * (`Y.encodeStateAsUpdate`). Metadata calls are synchronous (node:sqlite); `saveState` is async in
 * shape so that the unload path re-checks after it as it would for a remote store, and so tests can
 * make it slow or failing.
 */
import crypto from 'node:crypto';
import { migrate, type Database } from '../store/db.ts';

export interface DocRecord {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  /** Size of the stored state, bytes. */
  bytes: number;
}

interface Row {
  id: string;
  title: string;
  created_at: number;
  updated_at: number;
  bytes: number;
}

const MIGRATIONS = [
  `CREATE TABLE docs (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     bytes INTEGER NOT NULL DEFAULT 0,
     state BLOB
   );
   CREATE INDEX docs_updated_at ON docs (updated_at DESC);`,
];

const toRecord = (r: Row): DocRecord => ({ id: r.id, title: r.title, createdAt: r.created_at, updatedAt: r.updated_at, bytes: r.bytes });

export class DocumentStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    migrate(db, 'docs', MIGRATIONS);
  }

  create(title: string, now: number): DocRecord {
    const id = 'd_' + crypto.randomBytes(9).toString('base64url');
    this.#db.prepare('INSERT INTO docs (id, title, created_at, updated_at, bytes, state) VALUES (?, ?, ?, ?, 0, NULL)').run(id, title, now, now);
    return { id, title, createdAt: now, updatedAt: now, bytes: 0 };
  }

  get(id: string): DocRecord | undefined {
    const r = this.#db.prepare('SELECT id, title, created_at, updated_at, bytes FROM docs WHERE id = ?').get(id) as Row | undefined;
    return r && toRecord(r);
  }

  list(limit: number): DocRecord[] {
    return (this.#db.prepare('SELECT id, title, created_at, updated_at, bytes FROM docs ORDER BY updated_at DESC, id LIMIT ?').all(limit) as unknown as Row[]).map(toRecord);
  }

  rename(id: string, title: string, now: number): DocRecord | undefined {
    this.#db.prepare('UPDATE docs SET title = ?, updated_at = ? WHERE id = ?').run(title, now, id);
    return this.get(id);
  }

  delete(id: string): boolean {
    return Number(this.#db.prepare('DELETE FROM docs WHERE id = ?').run(id).changes) > 0;
  }

  loadState(id: string): Uint8Array | null {
    const r = this.#db.prepare('SELECT state FROM docs WHERE id = ?').get(id) as { state: Uint8Array | null } | undefined;
    return r?.state ?? null;
  }

  /** Writes a document's state. A document deleted meanwhile is left deleted (no row is created). */
  async saveState(id: string, state: Uint8Array, now: number): Promise<void> {
    this.#db.prepare('UPDATE docs SET state = ?, bytes = ?, updated_at = ? WHERE id = ?').run(state, state.byteLength, now, id);
  }
}

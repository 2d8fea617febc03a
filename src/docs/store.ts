/**
 * Documents on disk: one SQLite row per document with its metadata and its Yjs state
 * (`Y.encodeStateAsUpdate`). Metadata calls are synchronous (node:sqlite); `saveState` is async in
 * shape so that the unload path re-checks after it as it would for a remote store, and so tests can
 * make it slow or failing.
 *
 * Writes go through the storage writer (src/store/writer.ts): while the database cannot take them
 * (locked by another process, disk full) a document's row — its state included — waits in memory,
 * visible to every read here (`#unsaved`), and lands when it can; a newer write of the same document
 * replaces the one waiting. `saveState` resolves once the state is stored or kept; it rejects when the
 * writer cannot keep it (its limits), and the document then stays dirty in its room. Creating,
 * renaming and deleting are refused with 507 while the disk is full.
 */
import crypto from 'node:crypto';
import { migrate, storageOf, type Database } from '../store/db.ts';
import { UnsavedRows } from '../store/unsaved.ts';

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

/** A row waiting to be stored: its metadata, and its state when that changed (`undefined`: the stored one stands). */
interface UnsavedDoc {
  rec: DocRecord;
  state: Uint8Array | null | undefined;
}

export class DocumentStore {
  readonly #db: Database;
  readonly #unsaved: UnsavedRows<UnsavedDoc>;

  constructor(db: Database) {
    this.#db = db;
    migrate(db, 'docs', MIGRATIONS);
    const withState = db.prepare(
      'INSERT INTO docs (id, title, created_at, updated_at, bytes, state) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at, bytes = excluded.bytes, state = excluded.state',
    );
    const metaOnly = db.prepare('INSERT INTO docs (id, title, created_at, updated_at, bytes, state) VALUES (?, ?, ?, ?, 0, NULL) ON CONFLICT(id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at');
    const remove = db.prepare('DELETE FROM docs WHERE id = ?');
    this.#unsaved = new UnsavedRows<UnsavedDoc>(storageOf(db), {
      prefix: 'doc:',
      write: (id, d) => {
        if (!d) return void remove.run(id);
        const r = d.rec;
        if (d.state === undefined) metaOnly.run(r.id, r.title, r.createdAt, r.updatedAt);
        else withState.run(r.id, r.title, r.createdAt, r.updatedAt, d.state?.byteLength ?? 0, d.state);
      },
      label: (id, d) => (d ? `document ${id} (${JSON.stringify(d.rec.title.slice(0, 60))})` : `deletion of document ${id}`),
      bytes: (d) => 300 + (d ? d.rec.title.length * 2 + (d.state?.byteLength ?? 0) : 0),
    });
  }

  create(title: string, now: number): DocRecord {
    const id = 'd_' + crypto.randomBytes(9).toString('base64url');
    const rec = { id, title, createdAt: now, updatedAt: now, bytes: 0 };
    this.#unsaved.put(id, { rec, state: null }, { userFacing: true });
    return rec;
  }

  get(id: string): DocRecord | undefined {
    const u = this.#unsaved.get(id);
    if (u !== undefined) return u?.rec;
    const r = this.#db.prepare('SELECT id, title, created_at, updated_at, bytes FROM docs WHERE id = ?').get(id) as Row | undefined;
    return r && toRecord(r);
  }

  list(limit: number): DocRecord[] {
    // Unsaved rows replace theirs: ask for as many more rows as there are unsaved ones.
    const rows = (this.#db.prepare('SELECT id, title, created_at, updated_at, bytes FROM docs ORDER BY updated_at DESC, id LIMIT ?').all(limit + this.#unsaved.size) as unknown as Row[]).map(toRecord);
    if (!this.#unsaved.size) return rows.slice(0, limit);
    const out = rows.filter((r) => this.#unsaved.get(r.id) === undefined);
    for (const [, d] of this.#unsaved.entries()) if (d) out.push(d.rec);
    out.sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out.slice(0, limit);
  }

  rename(id: string, title: string, now: number): DocRecord | undefined {
    const cur = this.get(id);
    if (!cur) return undefined;
    const rec = { ...cur, title, updatedAt: now };
    this.#unsaved.put(id, { rec, state: this.#unsaved.get(id)?.state }, { userFacing: true });
    return rec;
  }

  delete(id: string): boolean {
    if (!this.get(id)) return false;
    this.#unsaved.put(id, null, { userFacing: true });
    return true;
  }

  loadState(id: string): Uint8Array | null {
    const u = this.#unsaved.get(id);
    if (u === null) return null;
    if (u?.state !== undefined) return u.state;
    const r = this.#db.prepare('SELECT state FROM docs WHERE id = ?').get(id) as { state: Uint8Array | null } | undefined;
    return r?.state ?? null;
  }

  /** Writes a document's state, or has the storage writer keep it. A document deleted meanwhile is left deleted (no row is created). */
  async saveState(id: string, state: Uint8Array, now: number): Promise<void> {
    const cur = this.get(id);
    if (!cur) return;
    this.#unsaved.put(id, { rec: { ...cur, bytes: state.byteLength, updatedAt: now }, state });
  }

  /** Documents whose row waits in memory for the database. */
  get unsaved(): number {
    return this.#unsaved.size;
  }
}

/**
 * The SQLite connection (node:sqlite, built into Node 22+: no native addon to compile) and
 * per-subsystem migrations. One connection per process, owned by the app and closed at shutdown.
 * Every write goes through the connection's StorageWriter (writer.ts, `storageOf(db)`), so a
 * database locked by another process or a full disk never stalls the event loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { StorageWriter, type StorageHealth } from './writer.ts';

export type Database = DatabaseSync;

export interface DatabaseOptions {
  /** How long one statement waits for another process's lock, ms: a few, so the event loop never waits longer (writer.ts). */
  busyTimeoutMs: number;
  maxPendingWrites: number;
  maxPendingBytes: number;
  log?: Logger;
  onStorageChange?(h: StorageHealth): void;
}

export const DEFAULT_DATABASE_OPTIONS: DatabaseOptions = { busyTimeoutMs: 5, maxPendingWrites: 10_000, maxPendingBytes: 64 * 1024 * 1024 };

/** Schema changes run at start, before Keel serves anything: they may wait this long for a lock. */
const MIGRATION_BUSY_TIMEOUT_MS = 5_000;

const writers = new WeakMap<Database, StorageWriter>();
const busyTimeouts = new WeakMap<Database, number>();

/**
 * The storage writer of a context's database, or undefined for a process that has none (`keel relay`
 * reuses the health and metrics routes and holds no database: its context's `db` getter throws).
 */
export function storageOfContext(ctx: { readonly db: Database }): StorageWriter | undefined {
  let db: Database;
  try {
    db = ctx.db;
  } catch {
    return undefined; // no database in this process (the relay)
  }
  return storageOf(db);
}

/** The writer of a connection made by `openDatabase`. */
export function storageOf(db: Database): StorageWriter {
  const w = writers.get(db);
  if (!w) throw new Error('this database was not opened with openDatabase');
  return w;
}

/**
 * keel.db and its -wal/-shm files hold every chat, agent event and document: readable by the owner
 * only (0600), in a directory only the owner can enter when Keel creates it (0700). SQLite creates
 * -wal and -shm with the database file's permissions; files left by an older Keel are tightened.
 */
function prepareFiles(dataDir: string): string {
  if (!fs.existsSync(dataDir)) fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'keel.db');
  fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return file;
}

export function openDatabase(dataDir: string | ':memory:', opts: Partial<DatabaseOptions> = {}): Database {
  const o = { ...DEFAULT_DATABASE_OPTIONS, ...opts };
  const file = dataDir === ':memory:' ? ':memory:' : prepareFiles(dataDir);
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA busy_timeout = ${MIGRATION_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;`);
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (subsystem TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(o.busyTimeoutMs))}`);
  busyTimeouts.set(db, o.busyTimeoutMs);
  writers.set(db, new StorageWriter({ maxPendingWrites: o.maxPendingWrites, maxPendingBytes: o.maxPendingBytes, where: file, log: o.log, onChange: o.onStorageChange }));
  return db;
}

/**
 * Applies `steps[version..]` for one subsystem, each in a transaction. Steps are append-only:
 * never edit a released one, add a new one. Runs at start (subsystems' constructors), so it may
 * wait for another process's lock for a few seconds instead of failing the start.
 */
export function migrate(db: Database, subsystem: string, steps: string[]): void {
  db.exec(`PRAGMA busy_timeout = ${MIGRATION_BUSY_TIMEOUT_MS}`);
  try {
    const row = db.prepare('SELECT version FROM schema_migrations WHERE subsystem = ?').get(subsystem) as { version: number } | undefined;
    let version = row?.version ?? 0;
    while (version < steps.length) {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(steps[version]!);
        version++;
        db.prepare('INSERT INTO schema_migrations (subsystem, version) VALUES (?, ?) ON CONFLICT(subsystem) DO UPDATE SET version = excluded.version').run(subsystem, version);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    }
  } finally {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeouts.get(db) ?? DEFAULT_DATABASE_OPTIONS.busyTimeoutMs))}`);
  }
}

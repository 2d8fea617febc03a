/**
 * The SQLite connection (node:sqlite, built into Node 22+: no native addon to compile) and
 * per-subsystem migrations. One connection per process, owned by the app and closed at shutdown.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export type Database = DatabaseSync;

export function openDatabase(dataDir: string | ':memory:'): Database {
  let file = ':memory:';
  if (dataDir !== ':memory:') {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    file = path.join(dataDir, 'keel.db');
  }
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (subsystem TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  return db;
}

/**
 * Applies `steps[version..]` for one subsystem, each in a transaction. Steps are append-only:
 * never edit a released one, add a new one.
 */
export function migrate(db: Database, subsystem: string, steps: string[]): void {
  const row = db.prepare('SELECT version FROM schema_migrations WHERE subsystem = ?').get(subsystem) as { version: number } | undefined;
  let version = row?.version ?? 0;
  while (version < steps.length) {
    db.exec('BEGIN');
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
}

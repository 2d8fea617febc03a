/**
 * What a host keeps for the relay, in Keel's SQLite database (mode 0600): its Ed25519 identity and
 * its pairings. A pairing's secret stays here and in the paired browser; it never crosses the relay.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { migrate, type Database } from '../store/db.ts';
import { hostIdOf, rawPublicKey } from '../relay/identity.ts';

const MIGRATIONS = [
  `CREATE TABLE relay_identity (id INTEGER PRIMARY KEY CHECK (id = 1), private_key BLOB NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE relay_pairings (id TEXT PRIMARY KEY, name TEXT NOT NULL, secret BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, last_used_at INTEGER);`,
];

export interface HostIdentity {
  hostId: string;
  privateKey: crypto.KeyObject;
  publicKeyRaw: Buffer;
}

export interface Pairing {
  id: string;
  name: string;
  createdAt: number;
  /** Set while the pairing has never been used: its link expires then. */
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export class PairingLimitError extends Error {}

/** The database holds pairing secrets: owner-only, whatever the umask was when SQLite created it. */
export function restrictDatabaseFiles(dataDir: string): void {
  if (dataDir === ':memory:') return;
  for (const f of ['keel.db', 'keel.db-wal', 'keel.db-shm']) {
    try {
      fs.chmodSync(path.join(dataDir, f), 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export class RelayStore {
  readonly #db: Database;
  readonly #maxPairings: number;
  readonly #linkTtlMs: number;

  constructor(db: Database, o: { maxPairings: number; linkTtlMs: number }) {
    this.#db = db;
    this.#maxPairings = o.maxPairings;
    this.#linkTtlMs = o.linkTtlMs;
    migrate(db, 'relay', MIGRATIONS);
  }

  identity(now: number): HostIdentity {
    const row = this.#db.prepare('SELECT private_key FROM relay_identity WHERE id = 1').get() as { private_key: Uint8Array } | undefined;
    let privateKey: crypto.KeyObject;
    if (row) privateKey = crypto.createPrivateKey({ key: Buffer.from(row.private_key), format: 'der', type: 'pkcs8' });
    else {
      privateKey = crypto.generateKeyPairSync('ed25519').privateKey;
      const der = privateKey.export({ format: 'der', type: 'pkcs8' });
      // INSERT OR IGNORE + re-read: a `keel pair` racing the server must end with one identity.
      this.#db.prepare('INSERT OR IGNORE INTO relay_identity (id, private_key, created_at) VALUES (1, ?, ?)').run(der, now);
      return this.identity(now);
    }
    const publicKeyRaw = rawPublicKey(crypto.createPublicKey(privateKey));
    return { hostId: hostIdOf(publicKeyRaw), privateKey, publicKeyRaw };
  }

  /** A new pairing with a fresh 32-byte secret; its link expires if unused. */
  create(name: string, now: number): Pairing & { secret: Buffer } {
    this.sweep(now);
    const n = (this.#db.prepare('SELECT COUNT(*) AS n FROM relay_pairings').get() as { n: number }).n;
    if (n >= this.#maxPairings) throw new PairingLimitError(`Keel keeps at most ${this.#maxPairings} pairings (--relay-max-pairings); revoke one first.`);
    const id = crypto.randomBytes(9).toString('base64url');
    const secret = crypto.randomBytes(32);
    const expiresAt = now + this.#linkTtlMs;
    this.#db.prepare('INSERT INTO relay_pairings (id, name, secret, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(id, name, secret, now, expiresAt);
    return { id, name, createdAt: now, expiresAt, lastUsedAt: null, secret };
  }

  list(now: number): Pairing[] {
    this.sweep(now);
    const rows = this.#db.prepare('SELECT id, name, created_at, expires_at, last_used_at FROM relay_pairings ORDER BY created_at').all() as unknown as Row[];
    return rows.map(toPairing);
  }

  /** The secret of a live pairing, or why there is none. */
  secret(id: string, now: number): Buffer | { refused: string } {
    const row = this.#db.prepare('SELECT secret, expires_at FROM relay_pairings WHERE id = ?').get(id) as { secret: Uint8Array; expires_at: number | null } | undefined;
    if (!row) return { refused: 'The host refused this pairing: it was revoked or never existed. Pair again from Keel (keel pair).' };
    if (row.expires_at !== null && row.expires_at <= now) {
      this.#db.prepare('DELETE FROM relay_pairings WHERE id = ?').run(id);
      return { refused: 'This pairing link expired before it was used. Make a new one (keel pair).' };
    }
    return Buffer.from(row.secret);
  }

  /** First use keeps the pairing for good (until revoked). */
  markUsed(id: string, now: number): void {
    this.#db.prepare('UPDATE relay_pairings SET last_used_at = ?, expires_at = NULL WHERE id = ?').run(now, id);
  }

  revoke(id: string): boolean {
    return this.#db.prepare('DELETE FROM relay_pairings WHERE id = ?').run(id).changes > 0;
  }

  sweep(now: number): number {
    return Number(this.#db.prepare('DELETE FROM relay_pairings WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now).changes);
  }
}

interface Row {
  id: string;
  name: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

function toPairing(r: Row): Pairing {
  return { id: r.id, name: r.name, createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at };
}

/**
 * Chat sessions: persisted in SQLite, with an in-memory cache bounded by entries (LRU) and idle age.
 * Every change is written to SQLite first and then to the cached copy (write-through), so evicting
 * an entry — by age, by capacity or by the health monitor's trim — never loses anything. A change
 * the database cannot take now (locked by another process, disk full) is kept by the storage writer
 * and stays visible here (`#unsaved`) until it lands (src/store/writer.ts).
 */
import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { Disposable } from '../core/lifecycle.ts';
import { TtlMap, type EvictionReason } from '../core/ttl-map.ts';
import { migrate, storageOf, type Database } from '../store/db.ts';
import { UnsavedRows } from '../store/unsaved.ts';

export interface ChatSession {
  readonly id: string;
  readonly title: string;
  readonly createdAt: number;
  /** Last activity: creation or a prompt. Sessions are listed by it, most recent first. */
  readonly updatedAt: number;
  /** The title is the default one: the first prompt replaces it. */
  readonly autoTitle: boolean;
}

export interface ChatStoreOptions {
  cacheMaxEntries: number;
  cacheIdleMs: number;
  clock: Clock;
  /** Called after entries leave the cache by age or capacity (batched per sweep). */
  onEvicted?: (count: number, reason: EvictionReason) => void;
}

export const DEFAULT_TITLE = 'New chat';
export const MAX_TITLE_CHARS = 200;
const AUTO_TITLE_CHARS = 80;

const MIGRATIONS = [
  `CREATE TABLE chat_sessions (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     auto_title INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX chat_sessions_recent ON chat_sessions (updated_at DESC, id DESC);`,
];

interface Row {
  id: string;
  title: string;
  auto_title: number;
  created_at: number;
  updated_at: number;
}

function fromRow(r: Row): ChatSession {
  return { id: r.id, title: r.title, autoTitle: r.auto_title === 1, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

/** An opaque list cursor: `<updatedAt>.<id>` of the last session of the previous page. */
export function encodeCursor(s: ChatSession): string {
  return `${s.updatedAt}.${s.id}`;
}

export function decodeCursor(c: string): { updatedAt: number; id: string } | null {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{1,64})$/.exec(c);
  return m ? { updatedAt: Number(m[1]), id: m[2]! } : null;
}

/** A title from the first line of a prompt. */
export function titleFromPrompt(content: string): string {
  const line = content.trim().split(/\r?\n/, 1)[0]!.trim();
  if (!line) return DEFAULT_TITLE;
  return line.length > AUTO_TITLE_CHARS ? line.slice(0, AUTO_TITLE_CHARS - 1) + '…' : line;
}

export class ChatStore implements Disposable {
  readonly #db: Database;
  readonly #o: ChatStoreOptions;
  readonly #cache: TtlMap<string, ChatSession>;
  readonly #select;
  readonly #unsaved: UnsavedRows<ChatSession>;
  #count: number;
  #evictions = 0;
  #trimmed = 0;
  #pendingEvicted = 0;
  #pendingReason: EvictionReason = 'expired';

  constructor(db: Database, opts: ChatStoreOptions) {
    this.#db = db;
    this.#o = opts;
    migrate(db, 'chat', MIGRATIONS);
    this.#select = db.prepare('SELECT * FROM chat_sessions WHERE id = ?');
    const upsert = db.prepare(
      'INSERT INTO chat_sessions (id, title, auto_title, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET title = excluded.title, auto_title = excluded.auto_title, updated_at = excluded.updated_at',
    );
    const remove = db.prepare('DELETE FROM chat_sessions WHERE id = ?');
    this.#unsaved = new UnsavedRows<ChatSession>(storageOf(db), {
      prefix: 'chat:',
      write: (id, s) => (s ? upsert.run(s.id, s.title, s.autoTitle ? 1 : 0, s.createdAt, s.updatedAt) : remove.run(id)),
      label: (id, s) => (s ? `chat session ${id} (${JSON.stringify(s.title.slice(0, 60))})` : `deletion of chat session ${id}`),
      bytes: (s) => 200 + (s ? s.title.length * 2 : 0),
    });
    this.#count = (db.prepare('SELECT count(*) AS n FROM chat_sessions').get() as { n: number }).n;
    this.#cache = new TtlMap({
      maxEntries: opts.cacheMaxEntries,
      idleTtlMs: opts.cacheIdleMs,
      clock: opts.clock,
      onEvict: (_k, _v, reason) => this.#evicted(reason),
    });
  }

  /** A sweep evicts synchronously; report its evictions once, after it. */
  #evicted(reason: EvictionReason): void {
    if (reason === 'disposed') return;
    this.#evictions++;
    if (this.#pendingEvicted++ === 0) {
      this.#pendingReason = reason;
      queueMicrotask(() => {
        const n = this.#pendingEvicted;
        this.#pendingEvicted = 0;
        this.#o.onEvicted?.(n, this.#pendingReason);
      });
    }
  }

  create(title?: string): ChatSession {
    const now = this.#o.clock.now();
    const s: ChatSession = { id: crypto.randomUUID(), title: title ?? DEFAULT_TITLE, autoTitle: title === undefined, createdAt: now, updatedAt: now };
    this.#unsaved.put(s.id, s, { userFacing: true });
    this.#count++;
    this.#cache.set(s.id, s);
    return s;
  }

  /** Unsaved, else from the cache, else from SQLite (and then cached). */
  get(id: string): ChatSession | undefined {
    const unsaved = this.#unsaved.get(id);
    if (unsaved !== undefined) return unsaved ?? undefined;
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const row = this.#select.get(id) as Row | undefined;
    if (!row) return undefined;
    const s = fromRow(row);
    this.#cache.set(id, s);
    return s;
  }

  exists(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Most recent activity first; `before` is the cursor from the previous page. */
  list(limit: number, before?: { updatedAt: number; id: string }): { sessions: ChatSession[]; more: boolean } {
    // Unsaved rows replace theirs: ask for as many more rows as there are unsaved ones.
    const n = limit + 1 + this.#unsaved.size;
    const rows = (
      before
        ? this.#db
            .prepare('SELECT * FROM chat_sessions WHERE updated_at < ? OR (updated_at = ? AND id < ?) ORDER BY updated_at DESC, id DESC LIMIT ?')
            .all(before.updatedAt, before.updatedAt, before.id, n)
        : this.#db.prepare('SELECT * FROM chat_sessions ORDER BY updated_at DESC, id DESC LIMIT ?').all(n)
    ) as unknown as Row[];
    let sessions = rows.map(fromRow);
    if (this.#unsaved.size) {
      sessions = sessions.filter((s) => this.#unsaved.get(s.id) === undefined);
      for (const [, s] of this.#unsaved.entries()) {
        if (s && (!before || s.updatedAt < before.updatedAt || (s.updatedAt === before.updatedAt && s.id < before.id))) sessions.push(s);
      }
      sessions.sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    }
    const more = sessions.length > limit;
    if (more) sessions.length = limit;
    return { sessions, more };
  }

  rename(id: string, title: string): ChatSession | undefined {
    const cur = this.get(id);
    if (!cur) return undefined;
    const next = { ...cur, title, autoTitle: false };
    this.#unsaved.put(id, next, { userFacing: true });
    return this.#put(next);
  }

  /** Records activity (a prompt): moves the session to the top of the list; the first prompt titles an untitled session. */
  touch(id: string, prompt?: string): ChatSession | undefined {
    const cur = this.get(id);
    if (!cur) return undefined;
    const now = Math.max(this.#o.clock.now(), cur.updatedAt);
    const retitle = cur.autoTitle && prompt !== undefined;
    const title = retitle ? titleFromPrompt(prompt) : cur.title;
    const next = { ...cur, updatedAt: now, title, autoTitle: retitle ? false : cur.autoTitle };
    // Kept even on a full disk: it records a prompt whose turn has started (and whose events are kept).
    this.#unsaved.put(id, next);
    return this.#put(next);
  }

  delete(id: string): boolean {
    if (this.get(id) === undefined) return false;
    this.#unsaved.put(id, null, { userFacing: true });
    this.#cache.delete(id);
    this.#count--;
    return true;
  }

  #put(s: ChatSession): ChatSession {
    this.#cache.set(s.id, s);
    return s;
  }

  /** Empties the cache (health monitor's trim); returns how many entries left. Nothing is lost. */
  trimCache(): number {
    const ids = [...this.#cache.entries()].map(([k]) => k);
    for (const id of ids) this.#cache.delete(id);
    this.#trimmed += ids.length;
    return ids.length;
  }

  /** Applies the idle limit now (the cache's own sweeper does it every idle/4). */
  sweep(): number {
    return this.#cache.sweep();
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  stats(): Record<string, number> {
    return {
      sessions: this.#count,
      cache_entries: this.#cache.size,
      cache_max_entries: this.#o.cacheMaxEntries,
      cache_evictions_total: this.#evictions,
      cache_trimmed_total: this.#trimmed,
      unsaved_sessions: this.#unsaved.size,
    };
  }

  dispose(): void {
    this.#cache.dispose();
  }
}

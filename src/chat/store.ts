/**
 * Chat sessions: persisted in SQLite, with an in-memory cache bounded by entries (LRU) and idle age.
 * Every change is written to SQLite first and then to the cached copy (write-through), so evicting
 * an entry — by age, by capacity or by the health monitor's trim — never loses anything.
 */
import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { Disposable } from '../core/lifecycle.ts';
import { TtlMap, type EvictionReason } from '../core/ttl-map.ts';
import { migrate, type Database } from '../store/db.ts';

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
    this.#db.prepare('INSERT INTO chat_sessions (id, title, auto_title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(s.id, s.title, s.autoTitle ? 1 : 0, s.createdAt, s.updatedAt);
    this.#count++;
    this.#cache.set(s.id, s);
    return s;
  }

  /** From the cache, else from SQLite (and then cached). */
  get(id: string): ChatSession | undefined {
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
    const rows = (
      before
        ? this.#db
            .prepare('SELECT * FROM chat_sessions WHERE updated_at < ? OR (updated_at = ? AND id < ?) ORDER BY updated_at DESC, id DESC LIMIT ?')
            .all(before.updatedAt, before.updatedAt, before.id, limit + 1)
        : this.#db.prepare('SELECT * FROM chat_sessions ORDER BY updated_at DESC, id DESC LIMIT ?').all(limit + 1)
    ) as unknown as Row[];
    const more = rows.length > limit;
    if (more) rows.length = limit;
    return { sessions: rows.map(fromRow), more };
  }

  rename(id: string, title: string): ChatSession | undefined {
    const cur = this.get(id);
    if (!cur) return undefined;
    this.#db.prepare('UPDATE chat_sessions SET title = ?, auto_title = 0 WHERE id = ?').run(title, id);
    return this.#put({ ...cur, title, autoTitle: false });
  }

  /** Records activity (a prompt): moves the session to the top of the list; the first prompt titles an untitled session. */
  touch(id: string, prompt?: string): ChatSession | undefined {
    const cur = this.get(id);
    if (!cur) return undefined;
    const now = Math.max(this.#o.clock.now(), cur.updatedAt);
    const retitle = cur.autoTitle && prompt !== undefined;
    const title = retitle ? titleFromPrompt(prompt) : cur.title;
    this.#db.prepare('UPDATE chat_sessions SET updated_at = ?, title = ?, auto_title = ? WHERE id = ?').run(now, title, retitle ? 0 : cur.autoTitle ? 1 : 0, id);
    return this.#put({ ...cur, updatedAt: now, title, autoTitle: retitle ? false : cur.autoTitle });
  }

  delete(id: string): boolean {
    const n = Number(this.#db.prepare('DELETE FROM chat_sessions WHERE id = ?').run(id).changes);
    this.#cache.delete(id);
    this.#count -= n;
    return n > 0;
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
    };
  }

  dispose(): void {
    this.#cache.dispose();
  }
}

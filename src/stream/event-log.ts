/**
 * The event log: every agent event, persisted in SQLite with a global, monotonically increasing
 * `seq` (AUTOINCREMENT: a seq is never reused, even after the newest rows are deleted, so a client's
 * Last-Event-ID can never point at a different event). `append` is the only way in, and it persists
 * AND publishes to the SSE hub in one synchronous step: a reader that reads the log and subscribes
 * in the same tick sees every event exactly once (see SseHub.#replay).
 *
 * Retention, per session: at most `maxEventsPerSession` events (checked every 128 appends and at each
 * sweep) and none older than `maxAgeMs` (at each sweep). Sweeps run on an unref'd timer, in bounded
 * batches with a macrotask between them, so a large backlog never blocks the event loop for long.
 *
 * When the database cannot take an event now (locked by another process, disk full), the storage
 * writer keeps it (src/store/writer.ts) and it stays in `#unsaved` until it lands: it is published
 * as usual, and `read`/`readRaw` (what /stream replays from) include it. Seqs are assigned here,
 * not by SQLite, so a kept event has its seq at once; they stay unique and increasing because every
 * insert goes through here. Message pages and exports show what is stored: a client that loads a
 * page and resumes /stream from it still gets every kept event.
 */
import type { Clock } from '../core/clock.ts';
import { KeelError } from '../core/errors.ts';
import type { Disposable } from '../core/lifecycle.ts';
import { migrate, storageOf, type Database } from '../store/db.ts';
import { storageProblem, type StorageWriter } from '../store/writer.ts';
import type { AgentEventPayload, StoredEvent } from './events.ts';

export interface EventLogOptions {
  maxEventsPerSession: number;
  /** 0 = no age limit. */
  maxAgeMs: number;
  sweepMs: number;
  clock: Clock;
}

/** A row as stored: `json` is the whole StoredEvent, ready to be framed without a parse/stringify round trip. */
export interface RawEvent {
  seq: number;
  json: string;
}

/** Called once per appended event, after it is persisted: the SSE hub's broadcast. */
export type Publish = (event: StoredEvent, json: string) => void;

/** Appends between two count checks of the appended session. */
const COUNT_CHECK_EVERY = 128;
/** Rows deleted per statement during a sweep; a macrotask runs between two batches. */
const SWEEP_BATCH = 5_000;
/** Largest page `read` returns. */
export const MAX_PAGE = 1_000;

const MIGRATIONS = [
  `CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     session_id TEXT NOT NULL,
     type TEXT NOT NULL,
     -- Groups the events of one chat message: 'a:<messageId>' (assistant deltas + done),
     -- 't:<callId>' (tool call + result); NULL for single-event messages.
     message_key TEXT,
     payload TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX events_session_seq ON events (session_id, seq);
   CREATE INDEX events_at ON events (at);`,
];

export function messageKeyOf(p: AgentEventPayload): string | null {
  switch (p.type) {
    case 'assistant_delta':
    case 'assistant_done':
      return 'a:' + p.messageId;
    case 'tool_call':
    case 'tool_result':
      return 't:' + p.callId;
    default:
      return null;
  }
}

function eventJson(seq: number, sessionId: string, at: number, payloadJson: string): string {
  return `{"seq":${seq},"sessionId":${JSON.stringify(sessionId)},"at":${at},"payload":${payloadJson}}`;
}

export class EventLog implements Disposable {
  readonly #db: Database;
  readonly #o: EventLogOptions;
  readonly #publish: Publish;
  readonly #insert;
  readonly #readAll;
  readonly #readSession;
  readonly #trimSession;
  readonly #writer: StorageWriter;
  /** Events appended but not yet stored (the writer keeps them), oldest first; their seqs follow every stored one. */
  #unsaved: { event: StoredEvent; json: string }[] = [];
  #sessionCheck: ((sessionId: string) => boolean) | undefined;
  #head: number;
  #rows: number;
  #appends = 0;
  #deletedByRetention = 0;
  #sweeper: Disposable | undefined;
  #sweeping = false;
  #disposed = false;

  constructor(db: Database, opts: EventLogOptions, publish: Publish) {
    this.#db = db;
    this.#o = opts;
    this.#publish = publish;
    migrate(db, 'stream', MIGRATIONS);
    this.#writer = storageOf(db);
    this.#insert = db.prepare('INSERT INTO events (seq, session_id, type, message_key, payload, at) VALUES (?, ?, ?, ?, ?, ?)');
    this.#readAll = db.prepare('SELECT seq, session_id, payload, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
    this.#readSession = db.prepare('SELECT seq, session_id, payload, at FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.#trimSession = db.prepare(
      'DELETE FROM events WHERE session_id = ? AND seq <= (SELECT seq FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)',
    );
    const seqRow = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
    this.#head = seqRow?.seq ?? 0;
    // Counted once at start, then kept exact by every insert and delete (all of them go through here).
    this.#rows = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    this.#sweeper = opts.clock.setInterval(() => void this.sweep(), opts.sweepMs);
  }

  /** The seq of the newest event ever appended (0 when none). */
  get head(): number {
    return this.#head;
  }
  /** Rows in the log now. */
  get rows(): number {
    return this.#rows;
  }
  get deletedByRetention(): number {
    return this.#deletedByRetention;
  }

  /**
   * Set by the chat subsystem: `append` to a session that does not exist (deleted while a turn was
   * still finishing) throws instead of leaving orphan rows no one can delete.
   */
  setSessionCheck(check: ((sessionId: string) => boolean) | undefined): void {
    this.#sessionCheck = check;
  }

  /**
   * Persists one event and publishes it to /stream subscribers, in the same synchronous step.
   * Throws KeelError 404 `chat_session_not_found` for a session that does not exist, and 503/507
   * when the database cannot take it and the storage writer cannot keep more: callers in background
   * loops must catch.
   */
  append(sessionId: string, payload: AgentEventPayload): StoredEvent {
    if (this.#disposed) throw new KeelError(503, 'shutting_down', 'Keel is shutting down; the event was not recorded.');
    if (this.#sessionCheck && !this.#sessionCheck(sessionId)) {
      throw new KeelError(404, 'chat_session_not_found', `Chat session ${sessionId} does not exist (it may have been deleted).`);
    }
    const at = this.#o.clock.now();
    const payloadJson = JSON.stringify(payload);
    const seq = this.#head + 1;
    const event: StoredEvent = { seq, sessionId, at, payload };
    const json = eventJson(seq, sessionId, at, payloadJson);
    const entry = { event, json };
    const forget = () => {
      const i = this.#unsaved.indexOf(entry);
      if (i >= 0) this.#unsaved.splice(i, 1);
    };
    this.#unsaved.push(entry);
    try {
      this.#writer.write({
        label: `agent event ${seq} (${payload.type}) of chat ${sessionId}`,
        bytes: json.length * 2,
        run: () => void this.#insert.run(seq, sessionId, payload.type, messageKeyOf(payload), payloadJson, at),
        done: forget,
        dropped: forget,
      });
    } catch (err) {
      forget();
      throw err;
    }
    this.#head = seq;
    this.#rows++;
    if (++this.#appends % COUNT_CHECK_EVERY === 0) this.#trimCount(sessionId);
    this.#publish(event, json);
    return event;
  }

  /** Events after `after` (exclusive), oldest first, at most `limit` (≤ MAX_PAGE), optionally of one session. */
  read(opts: { after: number; sessionId?: string; limit?: number }): StoredEvent[] {
    const stored = this.#rowsAfter(opts).map((r) => ({ seq: Number(r.seq), sessionId: r.session_id, at: Number(r.at), payload: JSON.parse(r.payload) as AgentEventPayload }));
    return this.#withUnsaved(stored, opts, (u) => u.event);
  }

  /** Like `read`, as ready-made StoredEvent JSON (what /stream sends). */
  readRaw(opts: { after: number; sessionId?: string; limit?: number }): RawEvent[] {
    const stored = this.#rowsAfter(opts).map((r) => ({ seq: Number(r.seq), json: eventJson(Number(r.seq), r.session_id, Number(r.at), r.payload) }));
    return this.#withUnsaved(stored, opts, (u) => ({ seq: u.event.seq, json: u.json }));
  }

  /** Stored events, then the unsaved ones after them (every unsaved seq follows every stored one), up to the limit. */
  #withUnsaved<T>(stored: T[], opts: { after: number; sessionId?: string; limit?: number }, map: (u: { event: StoredEvent; json: string }) => T): T[] {
    if (!this.#unsaved.length) return stored;
    const limit = Math.max(1, Math.min(MAX_PAGE, opts.limit ?? MAX_PAGE));
    for (const u of this.#unsaved) {
      if (stored.length >= limit) break;
      if (u.event.seq > opts.after && (opts.sessionId === undefined || u.event.sessionId === opts.sessionId)) stored.push(map(u));
    }
    return stored;
  }

  #rowsAfter(opts: { after: number; sessionId?: string; limit?: number }): { seq: number; session_id: string; payload: string; at: number }[] {
    const limit = Math.max(1, Math.min(MAX_PAGE, opts.limit ?? MAX_PAGE));
    const rows = opts.sessionId === undefined ? this.#readAll.all(opts.after, limit) : this.#readSession.all(opts.sessionId, opts.after, limit);
    return rows as { seq: number; session_id: string; payload: string; at: number }[];
  }

  /**
   * One page of a session's chat messages, newest first by message: the events of the `limit`
   * messages that start before `before` (a message is the events sharing a message key, or a single
   * event; `turn` started/finished markers are left out), oldest first. `more` says whether older
   * messages exist. Cost: one scan of the session's index entries (bounded by maxEventsPerSession).
   */
  readMessagePage(sessionId: string, before: number, limit: number): { events: StoredEvent[]; more: boolean } {
    return this.#messagePage(sessionId, 'before', before, limit);
  }

  /** Like `readMessagePage`, forwards: the `limit` messages that start after `after`; `more` says whether newer ones exist. */
  readMessagesAfter(sessionId: string, after: number, limit: number): { events: StoredEvent[]; more: boolean } {
    return this.#messagePage(sessionId, 'after', after, limit);
  }

  #messagePage(sessionId: string, dir: 'before' | 'after', cursor: number, limit: number): { events: StoredEvent[]; more: boolean } {
    const groups = this.#db
      .prepare(
        `SELECT min(seq) AS start, COALESCE(message_key, 'e:' || seq) AS k FROM events
         WHERE session_id = ? AND NOT (type = 'turn' AND json_extract(payload, '$.state') IN ('started', 'finished'))
         GROUP BY k HAVING start ${dir === 'before' ? '<' : '>'} ? ORDER BY start ${dir === 'before' ? 'DESC' : 'ASC'} LIMIT ?`,
      )
      .all(sessionId, cursor, limit + 1) as { start: number; k: string }[];
    const more = groups.length > limit;
    if (more) groups.length = limit;
    if (!groups.length) return { events: [], more: false };
    let first = Number.MAX_SAFE_INTEGER;
    for (const g of groups) first = Math.min(first, Number(g.start));
    const rows = this.#db
      .prepare(
        `SELECT seq, session_id, payload, at FROM events
         WHERE session_id = ? AND seq >= ? AND COALESCE(message_key, 'e:' || seq) IN (SELECT value FROM json_each(?))
         ORDER BY seq`,
      )
      .all(sessionId, first, JSON.stringify(groups.map((g) => g.k))) as { seq: number; session_id: string; payload: string; at: number }[];
    return { events: rows.map((r) => ({ seq: Number(r.seq), sessionId: r.session_id, at: Number(r.at), payload: JSON.parse(r.payload) as AgentEventPayload })), more };
  }

  /** Deletes every event of a session (kept by the storage writer while the database cannot take it); returns how many. */
  deleteSession(sessionId: string): number {
    const stored = (this.#db.prepare('SELECT count(*) AS n FROM events WHERE session_id = ?').get(sessionId) as { n: number }).n;
    const unsaved = this.#unsaved.filter((u) => u.event.sessionId === sessionId).length;
    // Not refused on a full disk like a user's own write: it finishes a deletion already made (the session's row).
    this.#writer.write({ label: `deletion of the events of chat ${sessionId}`, bytes: 200, run: () => void this.#db.prepare('DELETE FROM events WHERE session_id = ?').run(sessionId) });
    // Their inserts wait ahead of this delete in the writer: readers stop seeing them now.
    if (unsaved) this.#unsaved = this.#unsaved.filter((u) => u.event.sessionId !== sessionId);
    const n = Number(stored) + unsaved;
    this.#rows -= n;
    return n;
  }

  /** Retention is maintenance: while the database cannot take it, it is skipped (the next sweep does it). */
  #trimCount(sessionId: string): number {
    if (this.#writer.pending) return 0;
    let n: number;
    try {
      n = Number(this.#trimSession.run(sessionId, sessionId, this.#o.maxEventsPerSession).changes);
    } catch (err) {
      if (storageProblem(err)) return 0;
      throw err;
    }
    this.#rows -= n;
    this.#deletedByRetention += n;
    return n;
  }

  /** Applies the age and count limits now. Resolves to the number of rows deleted. */
  async sweep(): Promise<number> {
    if (this.#sweeping || this.#disposed || this.#writer.pending) return 0;
    this.#sweeping = true;
    let deleted = 0;
    try {
      if (this.#o.maxAgeMs > 0) {
        const del = this.#db.prepare('DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE at < ? ORDER BY at LIMIT ?)');
        for (let batch = 0; batch < 10_000; batch++) {
          if (this.#disposed) return deleted;
          const n = Number(del.run(this.#o.clock.now() - this.#o.maxAgeMs, SWEEP_BATCH).changes);
          this.#rows -= n;
          this.#deletedByRetention += n;
          deleted += n;
          if (n < SWEEP_BATCH) break;
          await new Promise((r) => setImmediate(r));
        }
      }
      if (this.#disposed) return deleted;
      const over = this.#db
        .prepare('SELECT session_id FROM events GROUP BY session_id HAVING count(*) > ? LIMIT 1000')
        .all(this.#o.maxEventsPerSession) as { session_id: string }[];
      for (const { session_id } of over) {
        if (this.#disposed) return deleted;
        deleted += this.#trimCount(session_id);
        await new Promise((r) => setImmediate(r));
      }
      return deleted;
    } catch (err) {
      // Retention is maintenance: a locked or full database skips this sweep; the next one retries.
      if (storageProblem(err)) return deleted;
      throw err;
    } finally {
      this.#sweeping = false;
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#sweeper?.dispose();
    this.#sweeper = undefined;
  }
}

/**
 * Read-only share links: explicit records (SQLite), each with an expiry, revocable one by one
 * without rotating the access token. A link's token is `<link id>.<expiry ms>.<HMAC>`, the HMAC
 * (under the access token) binding link id, terminal id and expiry, checked in constant time before
 * the record is looked up; the record decides whether it still works, so a revoke or an expiry
 * takes effect at once. Viewers attached through a link are closed (1008) when it is revoked or
 * expires.
 *
 * Bounded: at most `maxLinks` records (--max-terminal-share-links); a link ends with its terminal
 * (its record is deleted when the terminal exits), and at start every record is dropped — terminal
 * ids do not survive a restart, so no old link could ever open anything again.
 */
import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { CloseCode, KeelError } from '../core/errors.ts';
import { DisposableBase, toDisposable, type Disposable } from '../core/lifecycle.ts';
import type { Auth } from '../http/auth.ts';
import type { Database } from '../store/db.ts';
import { migrate } from '../store/db.ts';

export interface ShareLink {
  id: string;
  terminalId: string;
  createdAt: number;
  expiresAt: number;
}

export interface ShareLinkOptions {
  /** Lifetime of a link created without a ttl (--terminal-share-ttl-ms). */
  defaultTtlMs: number;
  /** Longest lifetime; longer requests are clamped (--terminal-share-max-ttl-ms). */
  maxTtlMs: number;
  /** Records kept, all terminals together (--max-terminal-share-links). */
  maxLinks: number;
}

/** Something attached through a link that must go when the link does (a read-only viewer). */
export interface LinkHolder {
  close(code: number, reason: string): void;
}

/** Longest single timer: Node fires a timeout over 2^31-1 ms at once, and a link may live a year. */
const MAX_TIMER_MS = 3_600_000;
const TOKEN_RE = /^(sl_[A-Za-z0-9_-]{16})\.([0-9]{1,16})\.([A-Za-z0-9_-]{43})$/;
/** Longest token accepted from a URL (a real one is ~80 characters). */
export const MAX_SHARE_TOKEN_CHARS = 200;

interface Row {
  id: string;
  terminal_id: string;
  created_at: number;
  expires_at: number;
}
const toLink = (r: Row): ShareLink => ({ id: r.id, terminalId: r.terminal_id, createdAt: Number(r.created_at), expiresAt: Number(r.expires_at) });

export class ShareLinks extends DisposableBase {
  readonly #db: Database;
  readonly #auth: Auth;
  readonly #clock: Clock;
  readonly #o: ShareLinkOptions;
  /** Holders attached through each link; an entry goes when its last holder does. */
  readonly #holders = new Map<string, Set<LinkHolder>>();
  #expiryTimer: Disposable | undefined;
  #revokedTotal = 0;
  #expiredTotal = 0;

  constructor(db: Database, auth: Auth, clock: Clock, o: ShareLinkOptions) {
    super();
    this.#db = db;
    this.#auth = auth;
    this.#clock = clock;
    this.#o = o;
    migrate(db, 'terminal-share-links', [
      `CREATE TABLE terminal_share_links (
         id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
       CREATE INDEX terminal_share_links_terminal ON terminal_share_links (terminal_id);
       CREATE INDEX terminal_share_links_expiry ON terminal_share_links (expires_at)`,
    ]);
    db.prepare('DELETE FROM terminal_share_links').run();
    this.register(toDisposable(() => this.#expiryTimer?.dispose()));
  }

  // Prepared once: /debug/memory and /metrics read the count on every scrape.
  #countStmt: ReturnType<Database['prepare']> | undefined;
  get count(): number {
    this.#countStmt ??= this.#db.prepare('SELECT COUNT(*) AS n FROM terminal_share_links');
    return Number((this.#countStmt.get() as { n: number }).n);
  }
  get attachedLinks(): number {
    return this.#holders.size;
  }
  get revokedTotal(): number {
    return this.#revokedTotal;
  }
  get expiredTotal(): number {
    return this.#expiredTotal;
  }

  /** A new link for `terminalId`; `ttlMs` defaults to the option and is clamped to the maximum. */
  create(terminalId: string, ttlMs?: number): ShareLink {
    this.#expire();
    if (this.count >= this.#o.maxLinks) {
      throw new KeelError(
        409,
        'too_many_share_links',
        `Keel already keeps ${this.#o.maxLinks} share links (option --max-terminal-share-links). Revoke some (DELETE /api/terminals/shares/:id) or close terminals you no longer share.`,
        { details: { limit: this.#o.maxLinks } },
      );
    }
    const now = this.#clock.now();
    const ttl = Math.min(ttlMs ?? Math.min(this.#o.defaultTtlMs, this.#o.maxTtlMs), this.#o.maxTtlMs);
    const link: ShareLink = { id: 'sl_' + crypto.randomBytes(12).toString('base64url'), terminalId, createdAt: now, expiresAt: now + ttl };
    this.#db.prepare('INSERT INTO terminal_share_links (id, terminal_id, created_at, expires_at) VALUES (?, ?, ?, ?)').run(link.id, terminalId, link.createdAt, link.expiresAt);
    this.#armExpiry();
    return link;
  }

  /** Live links, oldest first: one terminal's, or all. */
  list(terminalId?: string): ShareLink[] {
    this.#expire();
    const rows = terminalId === undefined
      ? this.#db.prepare('SELECT * FROM terminal_share_links ORDER BY created_at, id').all()
      : this.#db.prepare('SELECT * FROM terminal_share_links WHERE terminal_id = ? ORDER BY created_at, id').all(terminalId);
    return (rows as unknown as Row[]).map(toLink);
  }

  get(id: string): ShareLink | undefined {
    const row = this.#db.prepare('SELECT * FROM terminal_share_links WHERE id = ?').get(id) as Row | undefined;
    if (!row || Number(row.expires_at) <= this.#clock.now()) return undefined;
    return toLink(row);
  }

  /** Ends a link at once: it no longer opens anything, and its viewers are closed. False when there was none. */
  revoke(id: string): boolean {
    const changes = Number(this.#db.prepare('DELETE FROM terminal_share_links WHERE id = ?').run(id).changes);
    this.#closeHolders(id, 'share link revoked');
    if (changes > 0) this.#revokedTotal++;
    this.#armExpiry();
    return changes > 0;
  }

  /** The terminal ended: its links go with it (its viewers are closed by the exit itself, with 1000 after `x`). */
  forgetTerminal(terminalId: string): void {
    for (const link of this.list(terminalId)) {
      this.#db.prepare('DELETE FROM terminal_share_links WHERE id = ?').run(link.id);
      this.#holders.delete(link.id);
    }
    this.#armExpiry();
  }

  /** The token a link's holder presents (`?share=`). */
  token(link: ShareLink): string {
    return `${link.id}.${link.expiresAt}.${this.#sign(link.id, link.terminalId, link.expiresAt)}`;
  }

  /** The live link `token` grants for `terminalId`, or undefined (malformed, forged, another terminal's, revoked or expired). */
  verify(terminalId: string, token: string): ShareLink | undefined {
    if (token.length > MAX_SHARE_TOKEN_CHARS) return undefined;
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    const [, id, expiry, sig] = m as unknown as [string, string, string, string];
    const expiresAt = Number(expiry);
    // Constant-time (Auth.verify hashes both sides first), and before any lookup: a forged id costs no query.
    if (!this.#auth.verify(purpose(id, terminalId, expiresAt), sig)) return undefined;
    if (expiresAt <= this.#clock.now()) return undefined;
    const link = this.get(id);
    if (!link || link.terminalId !== terminalId || link.expiresAt !== expiresAt) return undefined;
    return link;
  }

  /** Ties `holder` to `linkId`: closed when the link is revoked or expires. Dispose when the holder goes. */
  attach(linkId: string, holder: LinkHolder): Disposable {
    let set = this.#holders.get(linkId);
    if (!set) this.#holders.set(linkId, (set = new Set()));
    set.add(holder);
    return toDisposable(() => {
      const s = this.#holders.get(linkId);
      if (!s) return;
      s.delete(holder);
      if (s.size === 0) this.#holders.delete(linkId);
    });
  }

  viewerCount(linkId: string): number {
    return this.#holders.get(linkId)?.size ?? 0;
  }

  #sign(id: string, terminalId: string, expiresAt: number): string {
    return this.#auth.sign(purpose(id, terminalId, expiresAt));
  }

  #closeHolders(linkId: string, reason: string): void {
    const set = this.#holders.get(linkId);
    if (!set) return;
    this.#holders.delete(linkId);
    for (const h of [...set]) h.close(CloseCode.policyViolation, reason);
  }

  /** Deletes expired links and closes their viewers; re-arms the timer for the next expiry. */
  #expire(): void {
    if (this.isDisposed) return;
    const now = this.#clock.now();
    const expired = this.#db.prepare('SELECT id FROM terminal_share_links WHERE expires_at <= ?').all(now) as unknown as { id: string }[];
    if (expired.length > 0) {
      this.#db.prepare('DELETE FROM terminal_share_links WHERE expires_at <= ?').run(now);
      this.#expiredTotal += expired.length;
      for (const { id } of expired) this.#closeHolders(id, 'share link expired');
    }
    this.#armExpiry();
  }

  #armExpiry(): void {
    this.#expiryTimer?.dispose();
    this.#expiryTimer = undefined;
    if (this.isDisposed) return;
    const next = (this.#db.prepare('SELECT MIN(expires_at) AS t FROM terminal_share_links').get() as { t: number | null }).t;
    if (next === null) return;
    const delay = Math.min(Math.max(0, Number(next) - this.#clock.now()), MAX_TIMER_MS);
    this.#expiryTimer = this.#clock.setTimeout(() => this.#expire(), delay);
  }
}

function purpose(id: string, terminalId: string, expiresAt: number): string {
  return `share-link:v1:${id}:${terminalId}:${expiresAt}`;
}

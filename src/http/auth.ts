/**
 * The access token and what it grants. The token is printed in the start URL; the browser
 * exchanges it once for an HttpOnly, SameSite=Strict cookie holding a value derived from it, so the
 * token itself never sits in the cookie jar. `Authorization: Bearer <token>` works for scripts.
 * Every comparison is constant-time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const COOKIE_NAME = 'keel_auth';

export type Role = 'owner' | 'viewer';

export interface Principal {
  role: Role;
  /** For viewers: the resource their share link grants (e.g. `terminal:<id>`). */
  scope?: string;
}

function safeEqual(a: string, b: string): boolean {
  // Hash first so lengths match and the comparison time does not depend on where they differ.
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/** Reads the token from <dataDir>/token, creating a random one (mode 0600) on first start. */
export function loadOrCreateToken(dataDir: string, configured: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'token');
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{16,256}$/.test(t)) return t;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const t = crypto.randomBytes(24).toString('base64url');
  fs.writeFileSync(file, t + '\n', { mode: 0o600 });
  return t;
}

export class Auth {
  readonly #token: string;
  readonly #cookieValue: string;

  constructor(token: string) {
    this.#token = token;
    this.#cookieValue = this.sign('cookie-v1');
  }

  get token(): string {
    return this.#token;
  }

  /** HMAC of `purpose` under the token: a capability that dies when the token changes. */
  sign(purpose: string): string {
    return crypto.createHmac('sha256', this.#token).update(purpose).digest('base64url');
  }

  verify(purpose: string, signature: string): boolean {
    return safeEqual(this.sign(purpose), signature);
  }

  checkToken(candidate: string): boolean {
    return safeEqual(this.#token, candidate);
  }

  cookieValue(): string {
    return this.#cookieValue;
  }

  /** Set-Cookie header value for a successful token exchange. */
  cookieHeader(secure: boolean): string {
    return `${COOKIE_NAME}=${this.#cookieValue}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}; Max-Age=31536000`;
  }

  /**
   * Set-Cookie header value that removes the cookie (sign-out). The cookie's value is derived from
   * the token, so signing out ends this browser's session; only a new token (delete
   * <data-dir>/token and restart) revokes a cookie copied elsewhere.
   */
  clearCookieHeader(secure: boolean): string {
    return `${COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
  }

  /** The principal for a request's headers, or null when it carries no valid credential. */
  principal(headers: { authorization?: string; cookie?: string }): Principal | null {
    const auth = headers.authorization;
    if (auth?.startsWith('Bearer ') && this.checkToken(auth.slice(7).trim())) return { role: 'owner' };
    const cookie = readCookie(headers.cookie, COOKIE_NAME);
    if (cookie && safeEqual(cookie, this.#cookieValue)) return { role: 'owner' };
    return null;
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

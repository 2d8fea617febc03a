/**
 * Same-origin JSON calls to Keel. The auth cookie rides along; errors come back as
 * `{error, message}` and surface as an ApiError whose message is the server's, for the user.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: Record<string, unknown>;
  constructor(status: number, code: string, message: string, body: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Requests give up after this long, so a stalled network never leaves a spinner forever. */
export const API_TIMEOUT_MS = 15_000;

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), API_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal,
    });
  } catch (err) {
    const aborted = (err as Error).name === 'AbortError';
    throw new ApiError(0, aborted ? 'timeout' : 'network', aborted ? `Keel did not answer within ${API_TIMEOUT_MS / 1000} s.` : 'Cannot reach Keel: is the server running, and is the network up?');
  } finally {
    clearTimeout(t);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    // A non-JSON answer (a proxy's error page): reported below by status.
  }
  if (!res.ok) {
    const d = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
    const message = typeof d.message === 'string' ? d.message : `${method} ${path} failed with HTTP ${res.status}.`;
    if (res.status === 401) onUnauthorized?.();
    throw new ApiError(res.status, typeof d.error === 'string' ? d.error : `http_${res.status}`, message, d);
  }
  return data as T;
}

let onUnauthorized: (() => void) | undefined;
/** Called once on any 401, so the shell can tell the user to reopen the start URL. */
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** ws:// or wss:// URL for a same-origin path. */
export function wsUrl(path: string): string {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

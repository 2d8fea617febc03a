/**
 * Host and Origin checks. Host defeats DNS rebinding (a hostile name resolving to 127.0.0.1);
 * Origin defeats cross-site WebSocket hijacking and cross-site form posts.
 * Pure functions, tested without a server.
 */
import net from 'node:net';

/** Splits a Host header ("example.com:7717", "[::1]:7717") into its host name. */
export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(1, end);
  }
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Whether a Host header names Keel. IP literals are always accepted: rebinding needs a domain
 * name, and people reach a LAN-bound Keel by its address.
 */
export function isHostAllowed(hostHeader: string | undefined, extra: readonly string[]): boolean {
  if (!hostHeader) return false;
  const name = hostnameOf(hostHeader);
  if (!name) return false;
  if (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost')) return true;
  if (net.isIP(name)) return true;
  return extra.some((e) => e.toLowerCase() === name || (e.startsWith('.') && name.endsWith(e.toLowerCase())));
}

/**
 * Whether a request's Origin may act on this server: same origin as the Host it was sent to,
 * or explicitly allowed. A missing Origin is accepted unless the browser marked the request
 * cross-site (non-browser clients such as curl send none).
 */
export function isOriginAllowed(
  origin: string | undefined,
  hostHeader: string | undefined,
  secFetchSite: string | undefined,
  allowed: readonly string[],
): boolean {
  if (origin === undefined) return secFetchSite !== 'cross-site';
  if (origin === 'null') return false;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (allowed.some((a) => a.replace(/\/$/, '').toLowerCase() === u.origin.toLowerCase())) return true;
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  return !!hostHeader && u.host.toLowerCase() === hostHeader.trim().toLowerCase();
}

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

export type Scheme = 'http' | 'https';

/** The parts of a Node request the guards read (an IncomingMessage, or a plain object in tests). */
export interface RequestLike {
  method?: string;
  socket: object;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The scheme the browser used to reach Keel: https when the socket is TLS, else http. Behind a
 * TLS-terminating reverse proxy the socket is plain HTTP, so with `trustForwardedProto` the first
 * value of X-Forwarded-Proto counts instead. Only turn that on when every request comes through a
 * proxy that overwrites the header: anyone reaching Keel directly could set it.
 */
export function requestScheme(req: RequestLike, trustForwardedProto: boolean): Scheme {
  if ((req.socket as { encrypted?: boolean }).encrypted) return 'https';
  if (!trustForwardedProto) return 'http';
  const raw = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(raw) ? raw[0] : raw)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https' ? 'https' : 'http';
}

/**
 * Whether a request's Origin may act on this server: same origin as the Host it was sent to, over
 * the same scheme (an http page must not act on an https Keel, nor the other way round), or
 * explicitly allowed (exact scheme, host and port). A missing Origin is accepted unless the browser
 * marked the request cross-site (non-browser clients such as curl send none).
 */
export function isOriginAllowed(
  origin: string | undefined,
  hostHeader: string | undefined,
  secFetchSite: string | undefined,
  allowed: readonly string[],
  scheme: Scheme,
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
  if (u.protocol !== `${scheme}:`) return false;
  return !!hostHeader && u.host.toLowerCase() === normalHost(hostHeader, scheme);
}

/** A Host header as URL.host would spell it: lowercased, without the scheme's default port. */
function normalHost(hostHeader: string, scheme: Scheme): string {
  const h = hostHeader.trim().toLowerCase();
  const defaultPort = scheme === 'https' ? ':443' : ':80';
  return h.endsWith(defaultPort) ? h.slice(0, -defaultPort.length) : h;
}

/** A refusal decided before routing: the status, stable code and message of the JSON answer. */
export interface Refusal {
  status: number;
  error: string;
  message: string;
  headers?: Record<string, string>;
}

export interface GuardOptions {
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  trustForwardedProto: boolean;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The DNS-rebinding and cross-site checks, for every request and every upgrade, before the router
 * or any hook answers. The messages never repeat the Host or Origin sent: a refusal is not a page
 * an attacker may fill.
 */
export function checkHostAndOrigin(
  req: RequestLike,
  upgrade: boolean,
  o: GuardOptions,
): Refusal | undefined {
  const host = req.headers.host as string | undefined;
  if (!isHostAllowed(host, o.allowedHosts)) {
    return { status: 403, error: 'host_not_allowed', message: 'This Host name is not allowed (DNS-rebinding guard). If you reach Keel by this name, add it with --allowed-hosts.' };
  }
  const wsUpgrade = upgrade || String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
  if (!wsUpgrade && SAFE_METHODS.has(req.method ?? 'GET')) return undefined;
  const origin = req.headers.origin as string | undefined;
  if (!isOriginAllowed(origin, host, req.headers['sec-fetch-site'] as string | undefined, o.allowedOrigins, requestScheme(req, o.trustForwardedProto))) {
    return {
      status: 403,
      error: 'origin_not_allowed',
      message: 'This page’s origin (scheme, host and port) may not act on this server (cross-site request guard). If the page is yours, add its origin with --allowed-origins.',
    };
  }
  return undefined;
}

/**
 * `fetch` through the tunnel: same-origin requests (the app's API calls) become tunnel streams to
 * the host; anything else (the relay's own static files, other origins) goes to the real fetch.
 * The response body is a pull-driven stream: credit returns to the host as the page reads.
 */
import type { TunnelClient } from '../../../src/tunnel/client.ts';

/** How long a request waits for a tunnel that is (re)connecting before it fails like a network error. */
export const TUNNEL_WAIT_MS = 20_000;
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export function isTunnelled(url: URL): boolean {
  return url.origin === location.origin && !url.pathname.startsWith('/assets/') && !url.pathname.startsWith('/relay/');
}

export function makeTunnelFetch(client: TunnelClient, nativeFetch: typeof fetch): typeof fetch {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    if (!isTunnelled(url)) return nativeFetch(input, init);
    if (req.signal.aborted) throw new DOMException('The request was aborted.', 'AbortError');
    const session = await client.ready(TUNNEL_WAIT_MS);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(await req.arrayBuffer());
    const r = await session.request({
      method: req.method,
      path: url.pathname + url.search,
      headers: [...req.headers],
      body: body && body.length ? body : undefined,
      signal: req.signal,
    });
    const empty = NULL_BODY.has(r.status) || req.method === 'HEAD';
    if (empty) void r.body.cancel();
    return new Response(empty ? null : r.body, { status: r.status, statusText: r.statusText, headers: r.headers });
  };
}

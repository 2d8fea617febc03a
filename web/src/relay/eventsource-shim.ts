/**
 * `EventSource` through the tunnel: the `eventsource` package (a WHATWG-compliant EventSource on
 * fetch, with Last-Event-ID and retry) given the tunnel's fetch. /stream resumes exactly as with the
 * browser's own EventSource.
 */
import { EventSource as FetchEventSource } from 'eventsource';

export function makeTunnelEventSource(tunnelFetch: typeof fetch): typeof EventSource {
  class TunnelEventSource extends FetchEventSource {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(new URL(url, location.href), { withCredentials: init?.withCredentials, fetch: tunnelFetch });
    }
  }
  return TunnelEventSource as unknown as typeof EventSource;
}

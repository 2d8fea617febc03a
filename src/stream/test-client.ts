/**
 * A /stream client for tests and leak scenarios: one real HTTP connection (no agent, no pooling),
 * parsed with SseParser. Every wait is bounded and says what it waited for. Events are kept (tests
 * read them all), so use it for bounded numbers of events.
 */
import http from 'node:http';
import type { StoredEvent } from './events.ts';
import { SseParser } from './sse-format.ts';

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** `event: message` payloads, in arrival order. */
  events: StoredEvent[];
  /** `event: state` payloads. */
  states: unknown[];
  comments: string[];
  /** Whether the server ended the response (cleanly). */
  ended: boolean;
  /** Resolves when the connection has closed (any reason). */
  closed: Promise<void>;
  /** Waits until `cond()` holds (bounded); fails with `what`. */
  until(cond: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Last seq received (0 when none): what EventSource would send as Last-Event-ID. */
  lastId(): number;
  /** Destroys the connection and waits until the socket is closed. */
  close(): Promise<void>;
}

export interface SseOpenOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Opens `url` (e.g. `${base}/stream?from=0`); resolves on the response headers. A non-200 answer rejects with the status and body. */
export function openSse(url: string, opts: SseOpenOptions = {}): Promise<SseClient> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, headers: { accept: 'text/event-stream', ...opts.headers } });
    const timer = setTimeout(() => req.destroy(new Error(`GET ${url} got no response headers within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          const err = new Error(`GET ${url} answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`) as Error & { status?: number; body?: string };
          err.status = res.statusCode;
          err.body = Buffer.concat(chunks).toString();
          reject(err);
        });
        return;
      }
      let wake: (() => void) | undefined;
      const socket = req.socket!;
      const closed = new Promise<void>((r) => {
        if (socket.destroyed) r();
        else socket.once('close', () => r());
      });
      const client: SseClient = {
        status: res.statusCode,
        headers: res.headers,
        events: [],
        states: [],
        comments: [],
        ended: false,
        closed,
        async until(cond, what, ms = 10_000) {
          const deadline = Date.now() + ms;
          while (!cond()) {
            if (Date.now() > deadline) throw new Error(`SSE client: timed out after ${ms} ms waiting for ${what} (have ${client.events.length} events, last id ${client.lastId()})`);
            await new Promise<void>((r) => {
              const t = setTimeout(r, 20);
              wake = () => {
                clearTimeout(t);
                r();
              };
            });
            wake = undefined;
          }
        },
        lastId() {
          return client.events.length ? client.events[client.events.length - 1]!.seq : 0;
        },
        async close() {
          socket.destroy();
          await closed;
        },
      };
      const parser = new SseParser(
        (e) => {
          if (e.event === 'message') client.events.push(JSON.parse(e.data) as StoredEvent);
          else if (e.event === 'state') client.states.push(JSON.parse(e.data));
          wake?.();
        },
        (c) => client.comments.push(c),
      );
      res.setEncoding('utf8');
      res.on('data', (d: string) => parser.push(d));
      res.on('end', () => {
        client.ended = true;
        wake?.();
      });
      res.on('error', () => {});
      resolve(client);
    });
    req.end();
  });
}

/**
 * Server-Sent Events framing (WHATWG HTML §9.2), as pure functions. A frame is built once per event
 * and the same string is written to every subscriber: broadcasting costs no per-subscriber copy.
 */
import type { StoredEvent } from './events.ts';

/** `event: message` with `id:` = the event's seq, so EventSource resumes with `Last-Event-ID`. */
export function messageFrame(e: StoredEvent): string {
  return messageFrameJson(e.seq, JSON.stringify(e));
}

/** The same frame from the event's JSON as stored (no parse/stringify round trip). */
export function messageFrameJson(seq: number, json: string): string {
  // JSON never contains a raw newline (JSON.stringify escapes them), so one `data:` line is enough.
  return `id: ${seq}\nevent: message\ndata: ${json}\n\n`;
}

/**
 * `event: state`. Deliberately without `id:`: an event without one leaves EventSource's last event
 * id alone, so a state frame never moves the resume point.
 */
export function stateFrame(state: unknown): string {
  return `event: state\ndata: ${JSON.stringify(state)}\n\n`;
}

/** A comment line: ignored by EventSource, keeps proxies and NAT entries from closing an idle stream. */
export const HEARTBEAT_FRAME = ':\n\n';

/**
 * One frame's bytes as they go on the wire, built once and shared by every subscriber: with HTTP/1.1
 * chunked framing (`<hex length>\r\n<frame>\r\n`), or raw for an HTTP/1.0 client (a proxy such
 * as nginx by default), whose body simply ends when the connection closes. Each form is made on first use.
 */
export class WireFrame {
  readonly text: string;
  #chunked: Buffer | undefined;
  #raw: Buffer | undefined;

  constructor(text: string) {
    this.text = text;
  }

  bytes(chunked: boolean): Buffer {
    if (!chunked) return (this.#raw ??= Buffer.from(this.text));
    if (!this.#chunked) {
      const raw = this.#raw ?? Buffer.from(this.text);
      this.#chunked = Buffer.concat([Buffer.from(raw.length.toString(16) + '\r\n', 'latin1'), raw, CRLF]);
    }
    return this.#chunked;
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** First bytes of every stream: the reconnection delay hint and the connection id (as a comment). */
export function openingFrame(connectionId: string, retryMs: number): string {
  return `retry: ${retryMs}\n: keel stream ${connectionId}\n\n`;
}

/** Last bytes of a stream that ends on purpose (max lifetime, shutdown): the client reconnects after `retryMs`. */
export function closingFrame(reason: string, retryMs: number): string {
  return `retry: ${retryMs}\n: end ${reason}\n\n`;
}

/**
 * Where a stream resumes: the last seq the client has. `Last-Event-ID` (sent by EventSource on
 * reconnect) wins over `?from=`; both mean "I have everything up to and including N". Returns
 * `undefined` when neither is given (live only), `null` when a value is present but not a seq.
 */
export function resumePoint(lastEventId: string | string[] | undefined, from: string | undefined): number | undefined | null {
  const raw = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  const pick = raw !== undefined && raw.trim() !== '' ? raw.trim() : from;
  if (pick === undefined || pick === '') return undefined;
  if (!/^\d{1,15}$/.test(pick)) return null;
  return Number(pick);
}

/** Parses an SSE byte stream into events, for tests and the benchmark's clients. Keeps only an unfinished tail. */
export class SseParser {
  #tail = '';
  #fields: { id?: string; event?: string; data: string[] } = { data: [] };
  readonly #onEvent: (e: { id: string | undefined; event: string; data: string }) => void;
  readonly #onComment: ((text: string) => void) | undefined;

  constructor(onEvent: (e: { id: string | undefined; event: string; data: string }) => void, onComment?: (text: string) => void) {
    this.#onEvent = onEvent;
    this.#onComment = onComment;
  }

  push(chunk: string): void {
    const text = this.#tail + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      this.#line(text.slice(start, nl).replace(/\r$/, ''));
      start = nl + 1;
    }
    this.#tail = text.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      const f = this.#fields;
      this.#fields = { data: [] };
      if (f.data.length || f.event) this.#onEvent({ id: f.id, event: f.event ?? 'message', data: f.data.join('\n') });
      return;
    }
    if (line.startsWith(':')) {
      this.#onComment?.(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') this.#fields.data.push(value);
    else if (name === 'id') this.#fields.id = value;
    else if (name === 'event') this.#fields.event = value;
  }
}

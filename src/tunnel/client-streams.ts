/**
 * The browser's ends of tunnel streams: an HTTP exchange (request out, response and a pull-driven
 * body back) and a WebSocket (messages both ways, chunked, with close codes). The shims in
 * web/src/relay/ turn these into fetch Responses, WebSocket and EventSource objects.
 */
import { concat, fromUtf8, readU16, u16, utf8 } from './bytes.ts';
import { closeReason } from './errors.ts';
import { Op, WsFlag, chunks, parseJson, type Mux, type OpCode } from './mux.ts';
import { StreamWriter } from './writer.ts';

/** Largest WebSocket message the browser reassembles from chunks (snapshots of big terminals are a few MB). */
export const MAX_WS_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Outgoing bytes a shim WebSocket queues before `send` starts reporting back-pressure in bufferedAmount. */
const WRITE_HIGH_WATER_BYTES = 1024 * 1024;

export interface StreamHandler {
  onMessage(op: OpCode, body: Uint8Array, cost: number): void;
  /** The tunnel died under the stream. */
  onTunnelClosed(reason: string): void;
}

export interface TunnelRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body?: Uint8Array;
  signal?: AbortSignal;
}

export interface TunnelResponse {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: ReadableStream<Uint8Array<ArrayBuffer>>;
}

export class HttpExchange implements StreamHandler {
  readonly response: Promise<TunnelResponse>;
  readonly #mux: Mux;
  readonly #id: number;
  readonly #done: () => void;
  #resolve!: (r: TunnelResponse) => void;
  #reject!: (e: Error) => void;
  #queue: { chunk: Uint8Array; cost: number }[] = [];
  #ended = false;
  #failed: Error | undefined;
  #pull: (() => void) | undefined;
  #finished = false;

  constructor(mux: Mux, id: number, req: TunnelRequest, done: () => void) {
    this.#mux = mux;
    this.#id = id;
    this.#done = done;
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    mux.sendJson(Op.request, id, { method: req.method, path: req.path, headers: req.headers, hasBody: !!req.body });
    if (req.body) {
      const w = new StreamWriter(mux, Op.data, id, Number.MAX_SAFE_INTEGER);
      for (const c of chunks(req.body)) w.write(c);
      w.afterQueued(() => mux.sendControl(Op.end, id));
    }
    if (req.signal) {
      const onAbort = () => this.#fail(new DOMException('The request was aborted.', 'AbortError'), true);
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  onMessage(op: OpCode, body: Uint8Array, cost: number): void {
    switch (op) {
      case Op.response: {
        const r = parseJson<{ status: number; statusText?: string; headers?: [string, string][] }>(body);
        this.#resolve({ status: r.status, statusText: r.statusText ?? '', headers: Array.isArray(r.headers) ? r.headers : [], body: this.#bodyStream() });
        return;
      }
      case Op.data:
        this.#queue.push({ chunk: body.slice(), cost });
        this.#pull?.();
        return;
      case Op.end:
        this.#ended = true;
        this.#pull?.();
        return;
      case Op.reset: {
        let message = 'The host reset the request.';
        try {
          message = String(parseJson<{ message?: string }>(body).message ?? message);
        } catch {
          // Keeps the generic message.
        }
        this.#fail(new TypeError(message), false);
        return;
      }
    }
  }

  onTunnelClosed(reason: string): void {
    this.#fail(new TypeError(`The tunnel to your host closed: ${reason}`), false);
  }

  #bodyStream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    // highWaterMark 0: pull runs only when the page reads, so credit goes back at the reader's pace.
    return new ReadableStream<Uint8Array<ArrayBuffer>>(
      {
        pull: (ctl) =>
          new Promise<void>((resolve) => {
            const step = () => {
              if (this.#failed) {
                this.#pull = undefined;
                ctl.error(this.#failed);
                resolve();
                return;
              }
              const next = this.#queue.shift();
              if (next) {
                this.#pull = undefined;
                ctl.enqueue(new Uint8Array(next.chunk));
                this.#mux.release(this.#id, next.cost);
                resolve();
                return;
              }
              if (this.#ended) {
                this.#pull = undefined;
                ctl.close();
                this.#finish();
                resolve();
                return;
              }
              this.#pull = step;
            };
            step();
          }),
        cancel: () => this.#fail(new DOMException('The body was cancelled.', 'AbortError'), true),
      },
      { highWaterMark: 0 },
    );
  }

  #fail(err: Error, sendReset: boolean): void {
    if (this.#finished) return;
    this.#failed = err;
    this.#queue = [];
    if (sendReset) this.#mux.sendJson(Op.reset, this.#id, { message: err.message });
    this.#reject(err);
    this.#pull?.();
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done();
  }
}

export interface WsHandlers {
  onopen(protocol: string): void;
  onmessage(data: Uint8Array, binary: boolean): void;
  onclose(code: number, reason: string, wasClean: boolean): void;
}

/** How long a closing socket waits for the host's close before it reports itself closed anyway. */
const CLOSE_WAIT_MS = 5_000;

export class WsStream implements StreamHandler {
  readonly #mux: Mux;
  readonly #id: number;
  readonly #h: WsHandlers;
  readonly #done: () => void;
  readonly #writer: StreamWriter;
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  #closing = false;
  #closed = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(mux: Mux, id: number, path: string, protocols: string[], h: WsHandlers, done: () => void) {
    this.#mux = mux;
    this.#id = id;
    this.#h = h;
    this.#done = done;
    this.#writer = new StreamWriter(mux, Op.wsMessage, id, WRITE_HIGH_WATER_BYTES);
    mux.sendJson(Op.wsOpen, id, { path, protocols });
  }

  get bufferedAmount(): number {
    return this.#writer.bufferedAmount;
  }

  send(data: Uint8Array, binary: boolean): void {
    if (this.#closing || this.#closed) return;
    const list = [...chunks(data)];
    list.forEach((c, i) => this.#writer.write(concat(new Uint8Array([(binary ? WsFlag.binary : 0) | (i === list.length - 1 ? WsFlag.fin : 0)]), c)));
  }

  close(code: number, reason: string): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#writer.afterQueued(() => this.#mux.sendControl(Op.wsClose, this.#id, concat(u16(code), utf8.encode(closeReason(reason)))));
    this.#closeTimer = setTimeout(() => this.#end(1006, '', false), CLOSE_WAIT_MS);
  }

  onMessage(op: OpCode, body: Uint8Array, cost: number): void {
    switch (op) {
      case Op.wsAccept: {
        const a = parseJson<{ protocol?: string }>(body);
        this.#h.onopen(typeof a.protocol === 'string' ? a.protocol : '');
        return;
      }
      case Op.wsMessage: {
        this.#mux.release(this.#id, cost);
        if (body.length < 1) return;
        const flags = body[0]!;
        this.#partBytes += body.length - 1;
        if (this.#partBytes > MAX_WS_MESSAGE_BYTES) {
          this.#mux.sendControl(Op.wsClose, this.#id, concat(u16(1009), utf8.encode('message too big')));
          this.#end(1009, 'A message from the host was larger than the page accepts.', false);
          return;
        }
        this.#parts.push(body.slice(1));
        if (!(flags & WsFlag.fin)) return;
        const whole = this.#parts.length === 1 ? this.#parts[0]! : concat(...this.#parts);
        this.#parts = [];
        this.#partBytes = 0;
        if (!this.#closed) this.#h.onmessage(whole, !!(flags & WsFlag.binary));
        return;
      }
      case Op.wsClose: {
        const code = body.length >= 2 ? readU16(body, 0) : 1005;
        let reason = '';
        try {
          reason = fromUtf8(body.subarray(2));
        } catch {
          // A reason that is not UTF-8 is dropped, the close still counts.
        }
        // Echo the close (RFC 6455's closing handshake) unless we started it.
        if (!this.#closing) this.#mux.sendControl(Op.wsClose, this.#id, body.subarray(0, Math.min(body.length, 2)));
        this.#end(code, reason, code !== 1006);
        return;
      }
    }
  }

  onTunnelClosed(): void {
    this.#end(1006, '', false);
  }

  #end(code: number, reason: string, clean: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#closeTimer);
    this.#writer.clear();
    this.#parts = [];
    this.#done();
    this.#h.onclose(code, reason, clean);
  }
}

/**
 * A tunnel stream served as an HTTP request to the local Keel over loopback, with the host's own
 * credentials added (only streams of a confirmed end-to-end session get here). Request body chunks
 * are credited back once written to the local socket; response chunks leave as the browser's window
 * allows, the local response paused meanwhile — a slow phone holds at most a window per stream.
 */
import http from 'node:http';
import { TunnelError } from '../tunnel/errors.ts';
import { CHUNK_BYTES, Op, type Mux, type OpCode } from '../tunnel/mux.ts';
import { StreamWriter } from '../tunnel/writer.ts';

export interface LocalTarget {
  port: number;
  token: string;
  agent: http.Agent;
}

export interface HostStream {
  onMessage(op: OpCode, body: Uint8Array, cost: number): void;
  onTunnelClosed(): void;
}

export interface TunnelHttpRequest {
  method: string;
  path: string;
  headers: [string, string][];
  hasBody: boolean;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Request headers a page may send through the tunnel; the rest (cookies, auth, origin, hop-by-hop) are not the page's to set. */
const REQUEST_HEADERS = new Set(['accept', 'accept-language', 'cache-control', 'content-type', 'content-length', 'if-match', 'if-none-match', 'if-modified-since', 'last-event-id', 'range']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'set-cookie']);
const MAX_HEADERS = 64;
const MAX_PATH_BYTES = 8 * 1024;
/** Bytes of a local response queued for the tunnel before the response is paused. */
const QUEUE_HIGH_WATER_BYTES = 4 * CHUNK_BYTES;

/** Validates a tunnel request; throws a TunnelError the caller turns into a reset. */
export function checkRequest(r: Partial<TunnelHttpRequest>): TunnelHttpRequest {
  if (typeof r.method !== 'string' || !METHODS.has(r.method)) throw new TunnelError('protocol', `Method ${String(r.method)} is not allowed through the tunnel.`);
  if (typeof r.path !== 'string' || !r.path.startsWith('/') || r.path.startsWith('//') || r.path.length > MAX_PATH_BYTES || /[\s\0]/.test(r.path)) {
    throw new TunnelError('protocol', 'The request path must be an absolute path on this host.');
  }
  const headers: [string, string][] = [];
  for (const h of Array.isArray(r.headers) ? r.headers.slice(0, MAX_HEADERS) : []) {
    if (!Array.isArray(h) || typeof h[0] !== 'string' || typeof h[1] !== 'string') continue;
    const name = h[0].toLowerCase();
    if (REQUEST_HEADERS.has(name) && h[1].length <= 8192 && !/[\r\n\0]/.test(h[1])) headers.push([name, h[1]]);
  }
  return { method: r.method, path: r.path, headers, hasBody: r.hasBody === true };
}

export class HostHttpStream implements HostStream {
  readonly #mux: Mux;
  readonly #id: number;
  readonly #done: () => void;
  readonly #req: http.ClientRequest;
  readonly #writer: StreamWriter;
  #res: http.IncomingMessage | undefined;
  #finished = false;

  constructor(mux: Mux, id: number, r: TunnelHttpRequest, target: LocalTarget, done: () => void) {
    this.#mux = mux;
    this.#id = id;
    this.#done = done;
    this.#writer = new StreamWriter(mux, Op.data, id, QUEUE_HIGH_WATER_BYTES);
    const headers: Record<string, string> = Object.fromEntries(r.headers);
    headers.host = `127.0.0.1:${target.port}`;
    headers.authorization = `Bearer ${target.token}`;
    this.#req = http.request({ host: '127.0.0.1', port: target.port, method: r.method, path: r.path, headers, agent: target.agent });
    this.#req.on('response', (res) => this.#onResponse(res));
    this.#req.on('error', (err) => this.#reset(`Keel did not answer the request: ${err.message}`));
    if (!r.hasBody) this.#req.end();
  }

  onMessage(op: OpCode, body: Uint8Array, cost: number): void {
    if (this.#finished) return;
    if (op === Op.data) this.#req.write(body, () => this.#mux.release(this.#id, cost));
    else if (op === Op.end) this.#req.end();
    else if (op === Op.reset) this.#abort();
  }

  onTunnelClosed(): void {
    this.#abort();
  }

  #onResponse(res: http.IncomingMessage): void {
    this.#res = res;
    const headers: [string, string][] = [];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!.toLowerCase();
      if (!HOP_BY_HOP.has(name)) headers.push([name, res.rawHeaders[i + 1]!]);
    }
    this.#mux.sendJson(Op.response, this.#id, { status: res.statusCode ?? 502, statusText: res.statusMessage ?? '', headers });
    this.#writer.ondrain = () => res.resume();
    res.on('data', (chunk: Buffer) => {
      let ok = true;
      for (let i = 0; i < chunk.length; i += CHUNK_BYTES) ok = this.#writer.write(chunk.subarray(i, i + CHUNK_BYTES));
      if (!ok) res.pause();
    });
    res.on('end', () => this.#writer.afterQueued(() => this.#finish(() => this.#mux.sendControl(Op.end, this.#id))));
    res.on('error', () => this.#reset('The local response failed.'));
    res.on('aborted', () => this.#reset('The local response was aborted.'));
  }

  #reset(message: string): void {
    this.#finish(() => this.#mux.sendJson(Op.reset, this.#id, { message }));
  }

  #abort(): void {
    this.#finish(() => {});
    this.#req.destroy();
    this.#res?.destroy();
  }

  #finish(last: () => void): void {
    if (this.#finished) return;
    this.#finished = true;
    last();
    this.#writer.clear();
    this.#done();
  }
}

/**
 * Test helpers: a real Keel on 127.0.0.1, port 0, in a temporary data directory, and small real
 * clients (node:http with a fresh connection per request, `ws` for WebSockets) that never hide a
 * status code. Every wait is bounded by a timeout and fails with a message saying what it waited for.
 *
 *   const k = await startKeel({ maxLiveViewers: 1 });
 *   const res = await request(k.url + '/debug/memory', { headers: k.authHeaders });
 *   await k.close();
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { createKeel, type Keel, type KeelDeps } from '../src/app.ts';
import { loadOptions } from '../src/config/load.ts';
import type { KeelOptions } from '../src/config/options.ts';

export interface TestKeel {
  keel: Keel;
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash, no token). */
  url: string;
  /** ws://… form of `url`. */
  wsUrl: string;
  token: string;
  dataDir: string;
  /** `{ authorization: 'Bearer <token>' }`. */
  authHeaders: Record<string, string>;
  /** Closes Keel (graceful shutdown) and removes the data directory; idempotent. */
  close(): Promise<void>;
}

/** A fresh temporary directory; removed by the caller (or by `TestKeel.close`). */
export function tmpDir(prefix = 'keel-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts a real Keel listening on 127.0.0.1:0 with logging off, in a new temporary data directory
 * (unless `overrides.dataDir` is given, which is then left in place at close).
 */
export async function startKeel(overrides: Partial<KeelOptions> = {}, deps: KeelDeps = {}): Promise<TestKeel> {
  const ownDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? tmpDir();
  const options = loadOptions({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', ...overrides, dataDir } });
  let keel: Keel;
  try {
    keel = await createKeel(options, deps);
  } catch (err) {
    if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = await keel.listen();
  let closing: Promise<void> | undefined;
  return {
    keel,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    token: keel.ctx.auth.token,
    dataDir,
    authHeaders: { authorization: `Bearer ${keel.ctx.auth.token}` },
    close() {
      closing ??= keel.close('test').finally(() => {
        if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
      });
      return closing;
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON (throws with the body in the message if it is not JSON). */
  json(): any;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/**
 * One HTTP request on its own connection (`agent: false`, `Connection: close`), resolved once the
 * response body has been read AND the socket has closed, so a test that counts connections or
 * handles afterwards sees nothing of it. Headers such as Host may be overridden.
 */
export function request(url: string, opts: RequestOptions = {}): Promise<RawResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { connection: 'close', ...opts.headers };
    if (opts.body !== undefined && headers['content-length'] === undefined) headers['content-length'] = Buffer.byteLength(opts.body);
    const req = http.request(url, { method: opts.method ?? 'GET', headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy(new Error(`request ${opts.method ?? 'GET'} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const done = () => {
          clearTimeout(timer);
          const text = body.toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json() {
              try {
                return JSON.parse(text);
              } catch {
                throw new Error(`expected a JSON body, got ${res.statusCode}: ${text.slice(0, 300)}`);
              }
            },
          });
        };
        // res.socket is detached once the response ends; the request keeps the socket.
        const socket = req.socket;
        if (!socket || socket.destroyed) done();
        else {
          socket.once('close', done);
          // The server closes after `Connection: close`; if it keeps the socket, close our end.
          socket.end();
        }
      });
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** Headers of a WebSocket upgrade request, for `request()`-based refusals tests. */
export function upgradeHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': Buffer.from('keel-test-key-16').toString('base64'),
    ...extra,
  };
}

/** Thrown by `openWs` when the server answers the upgrade with an HTTP status instead of 101. */
export class UpgradeRefused extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`WebSocket upgrade refused with ${status}: ${body.slice(0, 300)}`);
    this.status = status;
    this.body = body;
  }
  json(): any {
    return JSON.parse(this.body);
  }
}

interface Inbox {
  messages: string[];
  waiter: (() => void) | undefined;
}
const inboxes = new WeakMap<WebSocket, Inbox>();

/**
 * Opens a WebSocket and resolves once it is open; rejects with UpgradeRefused on an HTTP answer.
 * Messages are buffered from the first byte (a server may send in the same packet as the 101, before
 * the caller could attach a listener); read them with `nextMessage`.
 */
export function openWs(url: string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<WebSocket> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: opts.headers, perMessageDeflate: false });
    const inbox: Inbox = { messages: [], waiter: undefined };
    inboxes.set(ws, inbox);
    ws.on('message', (data) => {
      // Bounded: a test reads what it needs; the rest is dropped oldest first.
      if (inbox.messages.push(String(data)) > 100) inbox.messages.shift();
      inbox.waiter?.();
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        reject(new UpgradeRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The next text message of a socket opened with `openWs` (bounded wait). */
export async function nextMessage(ws: WebSocket, timeoutMs = 10_000): Promise<string> {
  const inbox = inboxes.get(ws);
  if (!inbox) throw new Error('nextMessage needs a socket opened with openWs');
  if (!inbox.messages.length) {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        inbox.waiter = undefined;
        reject(new Error(`no WebSocket message within ${timeoutMs} ms`));
      }, timeoutMs);
      inbox.waiter = () => {
        clearTimeout(t);
        inbox.waiter = undefined;
        resolve();
      };
    });
  }
  return inbox.messages.shift()!;
}

/** Resolves with the close code and reason once the socket is closed (bounded). */
export function closed(ws: WebSocket, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WebSocket did not close within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** Closes a client socket and waits for the close handshake (terminates it if that takes too long). */
export async function closeWs(ws: WebSocket, timeoutMs = 5_000): Promise<void> {
  if (ws.readyState === ws.CLOSED) return;
  const done = closed(ws, timeoutMs).catch(() => ws.terminate());
  ws.close(1000, 'test done');
  await done;
}

/**
 * Polls `cond` (every `intervalMs`) until it returns a truthy value, and returns that value.
 * Fails after `timeoutMs` with `what` in the message. Never asserts on elapsed time.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let i = 0; ; i++) {
    last = await cond();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${String(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Number of live (not disposed) slots of one connection kind, as /debug/memory reports it. */
export function connectionsInUse(k: TestKeel, kind: string): number {
  const c = k.keel.ctx.observe.connections().find((s) => s.name === kind);
  if (!c) throw new Error(`no connection kind "${kind}" (have: ${k.keel.ctx.observe.connections().map((s) => s.name).join(', ')})`);
  return c.count();
}

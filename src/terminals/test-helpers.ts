/** Test helpers: a real Keel on port 0 with a temp data dir, REST calls, and a viewer client that renders into a headless terminal. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import headless from '@xterm/headless';
import serializeModule from '@xterm/addon-serialize';
import WebSocket from 'ws';
import { createKeel, type Keel } from '../app.ts';
import { loadOptions } from '../config/load.ts';
import type { KeelOptions } from '../config/options.ts';
import { decodeServerFrame, encodeClient, type ExitInfo, type Meta } from './protocol.ts';

const { Terminal } = headless;
const { SerializeAddon } = serializeModule;

export interface TestServer {
  keel: Keel;
  base: string;
  token: string;
  dataDir: string;
  api(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string }>;
  close(): Promise<void>;
}

export async function startServer(overrides: Partial<KeelOptions> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'keel-term-'));
  const options = loadOptions({ overrides: { port: 0, dataDir: dir, logLevel: 'silent', ...overrides } });
  const keel = await createKeel(options);
  const base = await keel.listen();
  const token = new URL(keel.startUrl).searchParams.get('token')!;
  return {
    keel,
    base,
    token,
    dataDir: dir,
    async api(method, p, body, headers = {}) {
      const res = await fetch(base + p, {
        method,
        headers: { authorization: 'Bearer ' + token, origin: base, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text };
    },
    async close() {
      await bounded(keel.close('test'), 30_000, 'Keel to close');
      if (!dataDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `p`, or a rejection after `ms`. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface ClientOptions {
  share?: string;
  /** Acknowledge rendered bytes like a browser (default true). */
  ack?: boolean;
  headers?: Record<string, string>;
  cols?: number;
  rows?: number;
  /** Render into the headless terminal (default true); false acknowledges on receipt, like a fast browser. */
  render?: boolean;
  /** Keep the received output as text (default true). */
  keepText?: boolean;
  /** Scrollback of the client's terminal (default 3000: more than the server's 2000). */
  scrollback?: number;
  /** Hold acknowledgements and send them in one batch every this many ms (a slow link). */
  ackEveryMs?: number;
  /** Acknowledge at most this many bytes per second (a slow device), in steps every 50 ms. */
  ackBytesPerSec?: number;
}

/** A viewer: renders snapshots and output into a headless terminal and acknowledges what it has written. */
export class TestClient {
  readonly ws: WebSocket;
  readonly term: InstanceType<typeof Terminal>;
  readonly serializer: InstanceType<typeof SerializeAddon>;
  meta: Meta | undefined;
  exit: ExitInfo | undefined;
  notices: { code: string; message: string }[] = [];
  closeCode: number | undefined;
  closeReason = '';
  outputBytes = 0;
  /** Largest `o` frame payload received (the server gathers PTY reads into frames up to a bound). */
  maxOutputFrame = 0;
  snapshots = 0;
  /** Everything received in `o` frames since the last snapshot, as text. */
  text = '';
  ack: boolean;
  readonly render: boolean;
  readonly keepText: boolean;
  /** `text` at the moment the exit frame arrived. */
  textAtExit: string | undefined;
  outputBytesAtExit: number | undefined;
  #pendingWrites = 0;
  #heldAck = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  frames: string[] = [];

  constructor(server: TestServer, id: string, opts: ClientOptions = {}) {
    this.ack = opts.ack ?? true;
    this.render = opts.render ?? true;
    this.keepText = opts.keepText ?? true;
    this.term = new Terminal({ cols: opts.cols ?? 80, rows: opts.rows ?? 24, scrollback: opts.scrollback ?? 3000, allowProposedApi: true });
    this.serializer = new SerializeAddon();
    this.term.loadAddon(this.serializer);
    const q = opts.share ? `?share=${opts.share}` : '';
    const headers = opts.headers ?? (opts.share ? { origin: server.base } : { authorization: 'Bearer ' + server.token, origin: server.base });
    this.ws = new WebSocket(server.base.replace('http', 'ws') + `/api/terminals/${id}/ws${q}`, { headers });
    this.ws.on('error', () => {});
    this.ws.on('message', (data: Buffer) => this.#onFrame(data));
    if (opts.ackEveryMs) {
      this.#ackTimer = setInterval(() => {
        if (this.#heldAck > 0 && this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeClient.ack(this.#heldAck));
        this.#heldAck = 0;
      }, opts.ackEveryMs);
    } else if (opts.ackBytesPerSec) {
      const step = Math.max(1, Math.floor(opts.ackBytesPerSec / 20));
      this.#ackTimer = setInterval(() => {
        const n = Math.min(step, this.#heldAck);
        if (n > 0 && this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeClient.ack(n));
        this.#heldAck -= n;
      }, 50);
    }
    this.ws.on('close', (code, reason) => {
      clearInterval(this.#ackTimer);
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  opened(timeoutMs = 10_000): Promise<void> {
    return bounded(
      new Promise((resolve, reject) => {
        if (this.ws.readyState === WebSocket.OPEN) return resolve();
        this.ws.once('open', () => resolve());
        this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        this.ws.once('error', reject);
      }),
      timeoutMs,
      'the socket to open',
    );
  }

  #onFrame(data: Buffer): void {
    const m = decodeServerFrame(data);
    this.frames.push(m.type);
    switch (m.type) {
      case 'meta':
        this.meta = m.meta;
        if (this.term.cols !== m.meta.cols || this.term.rows !== m.meta.rows) this.term.resize(m.meta.cols, m.meta.rows);
        return;
      case 'snapshot':
        this.snapshots++;
        this.text = '';
        // As docs/protocol.md says a client does: reset in order with the output written before
        // (which may end inside a sequence: the snapshot itself starts by aborting it).
        this.term.write('', () => this.term.reset());
        this.#write(Buffer.from(m.data, 'utf8'), data.length - 1);
        return;
      case 'output':
        this.outputBytes += m.data.length;
        this.maxOutputFrame = Math.max(this.maxOutputFrame, m.data.length);
        if (this.keepText) this.text += m.data.toString('latin1');
        this.#write(Buffer.from(m.data), m.data.length);
        return;
      case 'exit':
        this.exit = m.info;
        this.textAtExit = this.text;
        this.outputBytesAtExit = this.outputBytes;
        return;
      case 'notice':
        this.notices.push({ code: m.code, message: m.message });
    }
  }

  #sendAckFor(n: number): void {
    if (!this.ack || n === 0) return;
    if (this.#ackTimer) this.#heldAck += n;
    else if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeClient.ack(n));
  }

  #write(data: Buffer, n: number): void {
    if (!this.render) return this.#sendAckFor(n);
    this.#pendingWrites++;
    this.term.write(data, () => {
      this.#pendingWrites--;
      this.#sendAckFor(n);
    });
  }

  /**
   * Waits for the first snapshot and a non-empty screen (the shell's prompt): bash may discard
   * input typed before its line editor has started, as with a person typing too early.
   */
  async ready(timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => this.snapshots > 0 && (await this.screen()).trim().length > 0, 'the shell prompt', timeoutMs);
  }

  /** Sends an acknowledgement by hand (for clients created with ack: false). */
  sendAck(n: number): void {
    this.ws.send(encodeClient.ack(n));
  }

  input(s: string): void {
    this.ws.send(encodeClient.input(s));
  }

  /** Resolves once every frame received so far has been written to the terminal. */
  async rendered(): Promise<void> {
    await new Promise<void>((r) => this.term.write('', () => r()));
  }

  async screen(): Promise<string> {
    await this.rendered();
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < buf.length; y++) lines.push(buf.getLine(y)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  closed(timeoutMs = 15_000): Promise<void> {
    return bounded(new Promise((r) => (this.closeCode !== undefined ? r() : this.ws.once('close', () => r()))), timeoutMs, 'the socket to close');
  }

  close(): void {
    clearInterval(this.#ackTimer);
    this.ws.close();
  }
}

/** Renders `data` (a serialized snapshot) into a fresh terminal of the given size: what the server's mirror shows. */
export async function renderSnapshot(data: string, cols: number, rows: number, scrollback = 3000): Promise<{ serialized: string; cursorX: number; cursorY: number }> {
  const term = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
  const ser = new SerializeAddon();
  term.loadAddon(ser);
  await new Promise<void>((r) => term.write(data, () => r()));
  const out = { serialized: ser.serialize(), cursorX: term.buffer.active.cursorX, cursorY: term.buffer.active.cursorY };
  term.dispose();
  return out;
}

/** Forces a full GC (the test process runs without --expose-gc). */
export function forceGc(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
}

/** Processes in state Z whose parent is `ppid`, and processes of session `sid` still alive. */
export function procState(): { pid: number; ppid: number; session: number; state: string }[] {
  const out: { pid: number; ppid: number; session: number; state: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = text.lastIndexOf(')');
      const f = text.slice(close + 2).split(' ');
      out.push({ pid: Number(name), state: f[0]!, ppid: Number(f[1]), session: Number(f[3]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A fresh read-only share link's token for terminal `id` (POST /api/terminals/:id/shares). */
export async function shareOf(server: TestServer, id: string): Promise<string> {
  const r = await server.api('POST', `/api/terminals/${id}/shares`, {});
  if (r.status !== 201) throw new Error(`share link not created: ${r.status}`);
  return r.json.share as string;
}

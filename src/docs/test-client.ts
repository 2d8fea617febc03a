/**
 * A minimal document client for tests and the benchmark: a real `ws` socket speaking y-protocols
 * sync and awareness plus Keel's control messages, over its own Y.Doc. Everything it keeps is
 * bounded (the control-message log keeps the last 200).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { controlMessage, decodeAwarenessUpdate, encodeAwarenessUpdate, MessageType, SyncStep, updateMessage } from './protocol.ts';
import { CONTENT_NAME } from './room.ts';

const REMOTE = Symbol('remote');
const MAX_CONTROLS = 200;

export interface DocClientOptions {
  headers?: Record<string, string>;
  name?: string;
  timeoutMs?: number;
  /** Called for every remote update applied (the benchmark timestamps them). */
  onRemoteUpdate?: (update: Uint8Array) => void;
  /** Extra `ws` client options (the benchmark skips frame masking to spare the load process). */
  wsOptions?: import('ws').ClientOptions;
}

export class DocClient {
  readonly doc = new Y.Doc();
  readonly ws: WebSocket;
  hello: Record<string, any> | undefined;
  lock: Record<string, any> | null = null;
  /** Control messages received, newest last (bounded). */
  readonly controls: Record<string, any>[] = [];
  /** Presence of other clients: clientID → JSON state. */
  readonly presence = new Map<number, string>();
  synced = false;
  closeInfo: { code: number; reason: string } | undefined;
  #presenceClock = 0;
  #onHello: (() => void) | undefined;
  readonly #onRemote: ((u: Uint8Array) => void) | undefined;

  private constructor(ws: WebSocket, opts: DocClientOptions) {
    this.ws = ws;
    this.#onRemote = opts.onRemoteUpdate;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.#onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
    });
    ws.on('error', () => {
      // Errors end in 'close'; tests read closeInfo.
    });
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && ws.readyState === ws.OPEN) ws.send(updateMessage(update));
    });
  }

  /** Connects, sends SyncStep1, and resolves once the server's hello and SyncStep2 have arrived. */
  static open(url: string, opts: DocClientOptions = {}): Promise<DocClient> {
    const full = opts.name ? `${url}${url.includes('?') ? '&' : '?'}name=${encodeURIComponent(opts.name)}` : url;
    const ws = new WebSocket(full, { ...opts.wsOptions, headers: opts.headers, perMessageDeflate: false });
    const client = new DocClient(ws, opts);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`document socket ${url} did not say hello within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          const err = new Error(`upgrade refused with ${res.statusCode}: ${Buffer.concat(chunks).toString()}`) as Error & { status?: number; body?: string };
          err.status = res.statusCode;
          err.body = Buffer.concat(chunks).toString();
          reject(err);
        });
      });
      ws.once('open', () => {
        const e = encoding.createEncoder();
        encoding.writeVarUint(e, MessageType.sync);
        encoding.writeVarUint(e, SyncStep.step1);
        encoding.writeVarUint8Array(e, Y.encodeStateVector(client.doc));
        ws.send(encoding.toUint8Array(e));
      });
      client.#onHello = () => {
        clearTimeout(timer);
        resolve(client);
      };
      ws.once('close', (code, reason) => {
        clearTimeout(timer);
        if (!client.synced) reject(new Error(`document socket closed before ${client.hello ? 'the first sync' : 'hello'}: ${code} ${reason.toString()}`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get text(): string {
    return this.doc.getText(CONTENT_NAME).toString();
  }
  get connectionId(): string {
    return this.hello?.connection;
  }

  insert(index: number, s: string): void {
    this.doc.getText(CONTENT_NAME).insert(index, s);
  }
  append(s: string): void {
    const t = this.doc.getText(CONTENT_NAME);
    t.insert(t.length, s);
  }

  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }
  control(value: object): void {
    this.ws.send(controlMessage(value));
  }
  requestLock(ttlMs?: number): void {
    this.control(ttlMs === undefined ? { type: 'lock' } : { type: 'lock', ttlMs });
  }
  unlock(): void {
    this.control({ type: 'unlock' });
  }
  setPresence(state: object | null): void {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, MessageType.awareness);
    encoding.writeVarUint8Array(e, encodeAwarenessUpdate([{ clientId: this.doc.clientID, clock: ++this.#presenceClock, state: JSON.stringify(state) }]));
    this.ws.send(encoding.toUint8Array(e));
  }

  /** The last control message of `type` (optionally matching `pred`). */
  lastControl(type: string, pred: (m: Record<string, any>) => boolean = () => true): Record<string, any> | undefined {
    for (let i = this.controls.length - 1; i >= 0; i--) if (this.controls[i]!.type === type && pred(this.controls[i]!)) return this.controls[i];
    return undefined;
  }

  /** Closes and waits for the close handshake (terminates after `timeoutMs`). */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.ws.readyState === this.ws.CLOSED) return this.#destroyDoc();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, timeoutMs);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000, 'done');
    });
    this.#destroyDoc();
  }

  /** Drops the TCP connection without a close frame (a killed tab or lost network). */
  async kill(): Promise<void> {
    const done = this.ws.readyState === this.ws.CLOSED ? Promise.resolve() : new Promise<void>((r) => this.ws.once('close', () => r()));
    this.ws.terminate();
    await done;
    this.#destroyDoc();
  }

  #destroyDoc(): void {
    this.doc.destroy();
  }

  #onMessage(buf: Uint8Array): void {
    const d = decoding.createDecoder(buf);
    const type = decoding.readVarUint(d);
    if (type === MessageType.sync) {
      const step = decoding.readVarUint(d);
      const payload = decoding.readVarUint8Array(d);
      if (step === SyncStep.step1) {
        const e = encoding.createEncoder();
        encoding.writeVarUint(e, MessageType.sync);
        encoding.writeVarUint(e, SyncStep.step2);
        encoding.writeVarUint8Array(e, Y.encodeStateAsUpdate(this.doc, payload));
        if (this.ws.readyState === this.ws.OPEN) this.ws.send(encoding.toUint8Array(e));
      } else {
        Y.applyUpdate(this.doc, payload, REMOTE);
        if (step === SyncStep.step2 && !this.synced) {
          this.synced = true;
          // The server sends hello before it answers our SyncStep1: both are here now.
          this.#onHello?.();
          this.#onHello = undefined;
        } else if (step === SyncStep.update) this.#onRemote?.(payload);
      }
    } else if (type === MessageType.awareness) {
      for (const e of decodeAwarenessUpdate(decoding.readVarUint8Array(d))) {
        if (e.state === 'null') this.presence.delete(e.clientId);
        else this.presence.set(e.clientId, e.state);
      }
    } else if (type === MessageType.keel) {
      const m = JSON.parse(decoding.readVarString(d)) as Record<string, any>;
      if (m.type === 'hello') {
        this.hello = m;
        this.lock = m.lock;
      }
      if (m.type === 'lock') this.lock = m.lock;
      this.controls.push(m);
      if (this.controls.length > MAX_CONTROLS) this.controls.shift();
    }
  }
}

/**
 * A tunnel stream served as a WebSocket to the local Keel over loopback (terminals, documents,
 * /debug/live), with the host's credentials. Messages from Keel are cut into chunks and sent as the
 * browser's window allows, the local socket paused meanwhile; chunks from the browser go out as
 * WebSocket fragments as they arrive, credited back once written.
 */
import { WebSocket } from 'ws';
import { concat, fromUtf8, readU16, u16, utf8 } from '../tunnel/bytes.ts';
import { closeReason } from '../tunnel/errors.ts';
import { CHUNK_BYTES, Op, WsFlag, type Mux, type OpCode } from '../tunnel/mux.ts';
import { StreamWriter } from '../tunnel/writer.ts';
import { sendableCode } from '../relay/wire.ts';
import type { HostStream, LocalTarget } from './local-http.ts';

/** Largest message accepted from the local Keel (its biggest are terminal snapshots). */
const MAX_LOCAL_MESSAGE_BYTES = 64 * 1024 * 1024;
const QUEUE_HIGH_WATER_BYTES = 4 * CHUNK_BYTES;

export class HostWsStream implements HostStream {
  readonly #mux: Mux;
  readonly #id: number;
  readonly #done: () => void;
  readonly #ws: WebSocket;
  readonly #writer: StreamWriter;
  #finished = false;

  constructor(mux: Mux, id: number, path: string, protocols: string[], target: LocalTarget, done: () => void) {
    this.#mux = mux;
    this.#id = id;
    this.#done = done;
    this.#writer = new StreamWriter(mux, Op.wsMessage, id, QUEUE_HIGH_WATER_BYTES);
    this.#ws = new WebSocket(`ws://127.0.0.1:${target.port}${path}`, protocols, {
      headers: { authorization: `Bearer ${target.token}` },
      perMessageDeflate: false,
      maxPayload: MAX_LOCAL_MESSAGE_BYTES,
      agent: target.agent,
    });
    this.#writer.ondrain = () => {
      if (this.#ws.isPaused) this.#ws.resume();
    };
    this.#ws.on('open', () => this.#mux.sendJson(Op.wsAccept, this.#id, { protocol: this.#ws.protocol }));
    this.#ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.#finished) return;
      const flags = isBinary ? WsFlag.binary : 0;
      let ok = true;
      if (data.length === 0) ok = this.#writer.write(new Uint8Array([flags | WsFlag.fin]));
      for (let i = 0; i < data.length; i += CHUNK_BYTES) {
        const last = i + CHUNK_BYTES >= data.length;
        ok = this.#writer.write(concat(new Uint8Array([flags | (last ? WsFlag.fin : 0)]), data.subarray(i, i + CHUNK_BYTES)));
      }
      if (!ok) this.#ws.pause();
    });
    this.#ws.on('close', (code: number, reason: Buffer) => {
      this.#writer.afterQueued(() => this.#finish(() => this.#mux.sendControl(Op.wsClose, this.#id, concat(u16(code === 1005 ? 1000 : code), utf8.encode(closeReason(reason.toString('utf8')))))));
    });
    // A refused upgrade (401, 404, 503) looks to a page like a close without a close frame: 1006, as a browser reports it.
    this.#ws.on('unexpected-response', (req) => {
      req.destroy();
      this.#finish(() => this.#mux.sendControl(Op.wsClose, this.#id, u16(1006)));
    });
    this.#ws.on('error', () => this.#finish(() => this.#mux.sendControl(Op.wsClose, this.#id, u16(1006))));
  }

  onMessage(op: OpCode, body: Uint8Array, cost: number): void {
    if (this.#finished) return;
    if (op === Op.wsMessage) {
      if (body.length < 1 || this.#ws.readyState !== WebSocket.OPEN) {
        this.#mux.release(this.#id, cost);
        return;
      }
      const flags = body[0]!;
      this.#ws.send(body.subarray(1), { binary: !!(flags & WsFlag.binary), fin: !!(flags & WsFlag.fin) }, () => this.#mux.release(this.#id, cost));
    } else if (op === Op.wsClose) {
      const code = body.length >= 2 ? readU16(body, 0) : 1000;
      let reason = '';
      try {
        reason = fromUtf8(body.subarray(2));
      } catch {
        // A reason that is not UTF-8 is dropped.
      }
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(sendableCode(code), closeReason(reason));
      else this.#abort();
    }
  }

  onTunnelClosed(): void {
    this.#abort();
  }

  #abort(): void {
    this.#finish(() => {});
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1001, 'The tunnel to the browser closed.');
    else this.#ws.terminate();
  }

  #finish(last: () => void): void {
    if (this.#finished) return;
    this.#finished = true;
    last();
    this.#writer.clear();
    this.#done();
  }
}

/**
 * `WebSocket` through the tunnel, with the browser API's behaviour: readyState, binaryType,
 * bufferedAmount, open/message/error/close events and on* handlers, close codes. Same-origin URLs
 * (terminals, documents, /debug/live) become tunnel streams; others use the real WebSocket. A
 * refused upgrade or a lost tunnel closes with 1006, as a real socket would, so the app's own
 * reconnect logic runs unchanged.
 */
import type { TunnelClient } from '../../../src/tunnel/client.ts';
import type { WsStream } from '../../../src/tunnel/client-streams.ts';
import { TUNNEL_WAIT_MS } from './fetch-shim.ts';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function makeTunnelWebSocket(client: TunnelClient, Native: typeof WebSocket): typeof WebSocket {
  class TunnelWebSocket extends EventTarget {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readonly CLOSING = 2;
    readonly CLOSED = 3;
    url = '';
    readonly extensions = '';
    protocol = '';
    readyState = 0;
    binaryType: BinaryType = 'blob';
    #stream: WsStream | undefined;
    #handlers = new Map<string, { fn: unknown; wrapper: EventListener }>();
    #sendChain: Promise<void> = Promise.resolve();

    constructor(url: string | URL, protocols?: string | string[]) {
      const u = new URL(url, location.href);
      const sameHost = u.host === location.host && (u.protocol === 'ws:' || u.protocol === 'wss:');
      if (!sameHost) return new Native(url, protocols) as unknown as TunnelWebSocket;
      super();
      this.url = u.toString();
      void this.#open(u.pathname + u.search, protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols]);
    }

    get bufferedAmount(): number {
      return this.#stream?.bufferedAmount ?? 0;
    }

    async #open(path: string, protocols: string[]): Promise<void> {
      let session;
      try {
        session = await client.ready(TUNNEL_WAIT_MS);
      } catch {
        this.#closed(1006, '', false, true);
        return;
      }
      if (this.readyState !== 0) return;
      this.#stream = session.webSocket(path, protocols, {
        onopen: (protocol) => {
          if (this.readyState !== 0) return;
          this.protocol = protocol;
          this.readyState = 1;
          this.dispatchEvent(new Event('open'));
        },
        onmessage: (data, binary) => {
          if (this.readyState !== 1) return;
          const payload = !binary ? utf8Decoder.decode(data) : this.binaryType === 'arraybuffer' ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : new Blob([data as Uint8Array<ArrayBuffer>]);
          this.dispatchEvent(new MessageEvent('message', { data: payload, origin: new URL(this.url).origin }));
        },
        onclose: (code, reason, wasClean) => this.#closed(code, reason, wasClean, !wasClean),
      });
    }

    send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (this.readyState === 0) throw new DOMException('Still in CONNECTING state.', 'InvalidStateError');
      if (this.readyState !== 1 || !this.#stream) return;
      const stream = this.#stream;
      if (typeof data === 'string') return void this.#ordered(() => stream.send(utf8.encode(data), false));
      if (data instanceof Blob) {
        const bytes = data.arrayBuffer();
        return void this.#ordered(async () => stream.send(new Uint8Array(await bytes), true));
      }
      const view = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
      const copy = view.slice();
      this.#ordered(() => stream.send(copy, true));
    }

    /** Blobs are read asynchronously: later sends wait for them, so messages keep their order. */
    #ordered(fn: () => void | Promise<void>): void {
      this.#sendChain = this.#sendChain.then(fn, fn);
    }

    close(code?: number, reason?: string): void {
      if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) throw new DOMException(`The close code must be 1000 or in 3000-4999, not ${code}.`, 'InvalidAccessError');
      if (this.readyState >= 2) return;
      if (this.readyState === 0) {
        this.#stream?.close(1000, '');
        this.#closed(1006, '', false, true);
        return;
      }
      this.readyState = 2;
      this.#stream?.close(code ?? 1000, reason ?? '');
    }

    #closed(code: number, reason: string, wasClean: boolean, withError: boolean): void {
      if (this.readyState === 3) return;
      this.readyState = 3;
      if (withError) this.dispatchEvent(new Event('error'));
      this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
    }

    #handler(type: string, fn: unknown): void {
      const old = this.#handlers.get(type);
      if (old) this.removeEventListener(type, old.wrapper);
      this.#handlers.delete(type);
      if (typeof fn !== 'function') return;
      const wrapper: EventListener = (ev) => (fn as (e: Event) => void).call(this, ev);
      this.#handlers.set(type, { fn, wrapper });
      this.addEventListener(type, wrapper);
    }

    get onopen() {
      return (this.#handlers.get('open')?.fn ?? null) as ((ev: Event) => void) | null;
    }
    set onopen(fn) {
      this.#handler('open', fn);
    }
    get onmessage() {
      return (this.#handlers.get('message')?.fn ?? null) as ((ev: MessageEvent) => void) | null;
    }
    set onmessage(fn) {
      this.#handler('message', fn);
    }
    get onerror() {
      return (this.#handlers.get('error')?.fn ?? null) as ((ev: Event) => void) | null;
    }
    set onerror(fn) {
      this.#handler('error', fn);
    }
    get onclose() {
      return (this.#handlers.get('close')?.fn ?? null) as ((ev: CloseEvent) => void) | null;
    }
    set onclose(fn) {
      this.#handler('close', fn);
    }
  }
  return TunnelWebSocket as unknown as typeof WebSocket;
}

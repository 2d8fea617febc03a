/**
 * One /stream connection. Kept deliberately small, because thousands of idle ones are the normal
 * case: no timer of its own (the hub's one heartbeat timer serves everybody), no closure of its own
 * (one shared listener function finds the subscriber through a symbol on the socket), frames shared
 * by all subscribers, and a queue that exists only while the socket is not draining.
 *
 * Writing: the response headers go out through Node's ServerResponse (`flushHeaders`); after that
 * every frame is written straight to the socket, already framed (WireFrame: chunked for HTTP/1.1,
 * raw for HTTP/1.0). A broadcast to N subscribers is then N socket writes of one shared Buffer, where
 * `res.write` would make four writes, a cork and a nextTick per subscriber: the fan-out is the
 * latency every browser sees. `res.end()` still closes the response properly (the terminating chunk
 * follows our complete chunks).
 *
 * When `socket.write` returns false the socket's buffer is past its high-water mark, so later frames
 * wait in a BoundedQueue (events and bytes) until 'drain'. When the queue is full the subscriber is
 * cut (the hub destroys the connection): its client reconnects with Last-Event-ID and resumes from
 * the event log, so nothing is lost and nothing grows.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { BoundedQueue } from '../core/bounded-queue.ts';
import type { Disposable } from '../core/lifecycle.ts';
import type { WireFrame } from './sse-format.ts';

export interface SubscriberLimits {
  maxQueuedEvents: number;
  maxQueuedBytes: number;
}

/** Who the subscriber reports to; implemented by SseHub. */
export interface SubscriberOwner {
  readonly limits: SubscriberLimits;
  /** The queue is full: cut this subscriber. */
  overflow(s: Subscriber): void;
  /** The connection closed (client left, cut, ended): forget this subscriber. */
  closed(s: Subscriber): void;
}

/** The subscriber of a socket, so one shared listener function serves every connection. */
const kSubscriber = Symbol('keel.subscriber');
type Sock = Socket & { [kSubscriber]?: Subscriber };

export class Subscriber {
  readonly id: string;
  readonly res: ServerResponse;
  readonly socket: Socket;
  /** Whether the response uses chunked framing (HTTP/1.1) or a raw body (HTTP/1.0). */
  readonly chunked: boolean;
  /** Only this chat session's events, when set. */
  readonly sessionId: string | undefined;
  /** When the hub ends the connection (max lifetime, with jitter). */
  readonly endsAt: number;
  /** Seq of the last message frame written or queued: nothing at or below it is sent again. */
  lastSeq: number;
  /** Version of the agent state last sent (the hub's counter). */
  stateVersion = -1;
  /** Past the backlog: receives events from the hub's broadcast. */
  live = false;
  #closed = false;
  #queue: BoundedQueue<Buffer> | undefined;
  readonly #owner: SubscriberOwner;
  readonly #slot: Disposable;

  // Shared by all subscribers; `this` is the socket (EventEmitter calls listeners that way).
  static #onClose(this: Sock): void {
    const s = this[kSubscriber];
    if (s) s.#release();
  }
  static #onDrain(this: Sock): void {
    const s = this[kSubscriber];
    if (s) s.#flush();
  }

  /** `res` must have sent its headers (`flushHeaders`) and still have its socket. */
  constructor(owner: SubscriberOwner, res: ServerResponse, init: { id: string; sessionId: string | undefined; lastSeq: number; endsAt: number; slot: Disposable }) {
    const socket = res.socket;
    if (!socket) throw new Error('the response has no socket (the client already left)');
    this.#owner = owner;
    this.res = res;
    this.socket = socket;
    this.chunked = res.chunkedEncoding;
    this.id = init.id;
    this.sessionId = init.sessionId;
    this.lastSeq = init.lastSeq;
    this.endsAt = init.endsAt;
    this.#slot = init.slot;
    (socket as Sock)[kSubscriber] = this;
    socket.on('close', Subscriber.#onClose);
  }

  get isClosed(): boolean {
    return this.#closed;
  }
  /** Whether the socket is past its high-water mark or frames are waiting behind it. */
  get isBackpressured(): boolean {
    return this.#queue !== undefined || this.socket.writableNeedDrain;
  }
  get queuedEvents(): number {
    return this.#queue?.length ?? 0;
  }
  get queuedBytes(): number {
    return this.#queue?.bytes ?? 0;
  }
  /** Bytes accepted by the socket and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Writes a frame now, or queues it behind a full socket; overflow cuts the subscriber. */
  send(frame: WireFrame): void {
    if (this.#closed) return;
    const bytes = frame.bytes(this.chunked);
    const q = this.#queue;
    if (q !== undefined) {
      if (!q.push(bytes)) this.#owner.overflow(this);
      return;
    }
    if (!this.socket.write(bytes)) {
      // Created on the first full write and dropped once drained: an idle subscriber holds no queue and no 'drain' listener.
      this.#queue = new BoundedQueue<Buffer>({ maxItems: this.#owner.limits.maxQueuedEvents, maxBytes: this.#owner.limits.maxQueuedBytes });
      this.socket.on('drain', Subscriber.#onDrain);
    }
  }

  /** Writes without queueing (the backlog replay, which waits for 'drain' itself). False: wait for 'drain'. */
  writeDirect(frame: WireFrame): boolean {
    if (this.#closed) return false;
    return this.socket.write(frame.bytes(this.chunked));
  }

  #flush(): void {
    const q = this.#queue;
    if (q === undefined || this.#closed) return;
    while (!q.isEmpty) {
      if (!this.socket.write(q.shift()!)) return; // still full: the rest waits for the next 'drain'
    }
    // Drained and empty: drop the queue so an idle subscriber holds none.
    this.#queue = undefined;
    this.socket.off('drain', Subscriber.#onDrain);
  }

  /** Ends the stream cleanly with `lastFrame`, or destroys it when the client is not reading (a clean end would wait behind unread bytes). */
  end(lastFrame: WireFrame): void {
    if (this.#closed) return;
    if (this.isBackpressured) this.destroy();
    else {
      this.socket.write(lastFrame.bytes(this.chunked));
      this.#release();
      this.res.end();
    }
  }

  /** Closes the connection now (cut, or a client that does not read). */
  destroy(): void {
    this.#release();
    this.socket.destroy();
  }

  /** Idempotent: forgets the queue and the socket's listeners (a cleanly ended socket may serve another request), returns the slot, tells the hub. */
  #release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = undefined;
    this.socket.off('drain', Subscriber.#onDrain);
    this.socket.off('close', Subscriber.#onClose);
    (this.socket as Sock)[kSubscriber] = undefined;
    this.#slot.dispose();
    this.#owner.closed(this);
  }
}

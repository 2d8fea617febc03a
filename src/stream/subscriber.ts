/**
 * One /stream connection. Kept deliberately small, because thousands of idle ones are the normal
 * case: no timer of its own (the hub's one heartbeat timer serves everybody), no closure per event
 * (frames are shared strings), and a queue that exists only while the socket is not draining.
 *
 * Writing: a frame goes straight to `res.write`. When that returns false the socket's buffer is past
 * its high-water mark, so later frames wait in a BoundedQueue (events and bytes) until 'drain'. When
 * the queue is full the subscriber is cut (the hub destroys the connection): its client reconnects
 * with Last-Event-ID and resumes from the event log, so nothing is lost and nothing grows.
 */
import type { ServerResponse } from 'node:http';
import { BoundedQueue } from '../core/bounded-queue.ts';
import type { Disposable } from '../core/lifecycle.ts';

export interface SubscriberLimits {
  maxQueuedEvents: number;
  maxQueuedBytes: number;
}

/** Who the subscriber reports to; implemented by SseHub. */
export interface SubscriberOwner {
  readonly limits: SubscriberLimits;
  /** The queue is full: cut this subscriber. */
  overflow(s: Subscriber): void;
  /** The response closed (client left, cut, ended): forget this subscriber. */
  closed(s: Subscriber): void;
}

function byteLength(frame: string): number {
  return Buffer.byteLength(frame);
}

/** The subscriber of a response, so one shared listener function serves every response (no closures per subscriber). */
const kSubscriber = Symbol('keel.subscriber');
type Res = ServerResponse & { [kSubscriber]?: Subscriber };

export class Subscriber {
  readonly id: string;
  readonly res: ServerResponse;
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
  #queue: BoundedQueue<string> | undefined;
  readonly #owner: SubscriberOwner;
  readonly #slot: Disposable;

  // Shared by all subscribers; `this` is the response (EventEmitter calls listeners that way).
  static #onClose(this: Res): void {
    const s = this[kSubscriber];
    if (s) s.#release();
  }
  static #onDrain(this: Res): void {
    const s = this[kSubscriber];
    if (s) s.#flush();
  }

  constructor(owner: SubscriberOwner, res: ServerResponse, init: { id: string; sessionId: string | undefined; lastSeq: number; endsAt: number; slot: Disposable }) {
    this.#owner = owner;
    this.res = res;
    this.id = init.id;
    this.sessionId = init.sessionId;
    this.lastSeq = init.lastSeq;
    this.endsAt = init.endsAt;
    this.#slot = init.slot;
    (res as Res)[kSubscriber] = this;
    res.on('close', Subscriber.#onClose);
    // A write racing a reset socket reports through 'error'; 'close' follows and releases everything.
    res.on('error', noop);
  }

  get isClosed(): boolean {
    return this.#closed;
  }
  /** Whether the socket is past its high-water mark or frames are waiting behind it. */
  get isBackpressured(): boolean {
    return this.#queue !== undefined || this.res.writableNeedDrain;
  }
  get queuedEvents(): number {
    return this.#queue?.length ?? 0;
  }
  get queuedBytes(): number {
    return this.#queue?.bytes ?? 0;
  }

  /** Writes a frame now, or queues it behind a full socket; overflow cuts the subscriber. */
  send(frame: string): void {
    if (this.#closed) return;
    const q = this.#queue;
    if (q !== undefined) {
      if (!q.push(frame)) this.#owner.overflow(this);
      return;
    }
    if (!this.res.write(frame)) {
      // Created on the first full write and dropped once drained: an idle subscriber holds no queue and no 'drain' listener.
      this.#queue = new BoundedQueue<string>({ maxItems: this.#owner.limits.maxQueuedEvents, maxBytes: this.#owner.limits.maxQueuedBytes, sizeOf: byteLength });
      this.res.on('drain', Subscriber.#onDrain);
    }
  }

  #flush(): void {
    const q = this.#queue;
    if (q === undefined || this.#closed) return;
    while (!q.isEmpty) {
      if (!this.res.write(q.shift()!)) return; // still full: the rest waits for the next 'drain'
    }
    // Drained and empty: drop the queue so an idle subscriber holds none.
    this.#queue = undefined;
    this.res.off('drain', Subscriber.#onDrain);
  }

  /** Ends the stream cleanly with `lastFrame`, or destroys it when the client is not reading (a clean end would wait behind unread bytes). */
  end(lastFrame: string): void {
    if (this.#closed) return;
    if (this.isBackpressured) this.destroy();
    else {
      this.#release();
      this.res.end(lastFrame);
    }
  }

  /** Closes the connection now (cut, or a client that does not read). */
  destroy(): void {
    this.#release();
    this.res.destroy();
  }

  /** Idempotent: forgets the queue, returns the connection slot, tells the hub. */
  #release(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#queue) this.res.off('drain', Subscriber.#onDrain);
    this.#queue = undefined;
    (this.res as Res)[kSubscriber] = undefined;
    this.#slot.dispose();
    this.#owner.closed(this);
  }
}

function noop(): void {}

/**
 * The SSE hub behind /stream: who is subscribed, the broadcast of appended events, the agent state,
 * one shared heartbeat timer (which also enforces the maximum connection lifetime), and resuming a
 * subscriber from the event log.
 *
 * Exactly-once resume without buffering: a new subscriber first replays the log after its resume
 * point, page by page, at the pace its socket drains. It is not in the broadcast sets meanwhile. When
 * a page comes back short, the hub adds it to the broadcast sets in the same synchronous step as that
 * read; `EventLog.append` persists and publishes in one synchronous step too, so no event can fall
 * between the last read and the first broadcast (no gap), and none is both read and broadcast (no
 * duplicate). `lastSeq` guards the broadcast as well, for good measure.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { KeelError } from '../core/errors.ts';
import type { Disposable } from '../core/lifecycle.ts';
import type { AuditLog } from '../observe/audit-log.ts';
import type { RawEvent } from './event-log.ts';
import type { StoredEvent } from './events.ts';
import { HEARTBEAT_FRAME, WireFrame, closingFrame, messageFrameJson, openingFrame, stateFrame } from './sse-format.ts';
import { Subscriber, type SubscriberLimits, type SubscriberOwner } from './subscriber.ts';

export interface SseHubOptions extends SubscriberLimits {
  clock: Clock;
  heartbeatMs: number;
  maxLifetimeMs: number;
  retryMs: number;
  log: Logger;
  audit: AuditLog;
  /** The agent state sent as `event: state` (called on connect and by publishState). */
  readState: () => unknown;
  /** Events after `after` from the log, oldest first. */
  readLog: (after: number, sessionId: string | undefined, limit: number) => RawEvent[];
  /** Newest seq in the log. */
  head: () => number;
}

const HEARTBEAT = new WireFrame(HEARTBEAT_FRAME);

/** Rows read per backlog page. A page is only read when the socket has drained the previous one. */
const REPLAY_PAGE = 100;
/** Share of the max lifetime taken off at random, so clients that connected together do not all reconnect together. */
const LIFETIME_JITTER = 0.1;

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  // no-transform: compressing proxies must not buffer the stream; X-Accel-Buffering: nginx must not either.
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
  'x-content-type-options': 'nosniff',
};

export class SseHub implements SubscriberOwner, Disposable {
  readonly limits: SubscriberLimits;
  readonly #o: SseHubOptions;
  /** Every open subscriber (replaying or live): the heartbeat, lifetime and shutdown go through here. */
  readonly #all = new Set<Subscriber>();
  /** Live subscribers without a session filter. */
  readonly #liveAll = new Set<Subscriber>();
  /** Live subscribers of one session; a key is deleted with its last subscriber. */
  readonly #liveBySession = new Map<string, Set<Subscriber>>();
  #ticker: Disposable | undefined;
  #nextId = 1;
  #stateJson = '';
  #stateFrame = new WireFrame(stateFrame(null));
  #stateVersion = 0;
  #closing = false;
  // Counters since start (numbers, not structures).
  #connectionsTotal = 0;
  #cutTotal = 0;
  #lifetimeEndedTotal = 0;
  #eventsPublished = 0;

  constructor(opts: SseHubOptions) {
    this.#o = opts;
    this.limits = { maxQueuedEvents: opts.maxQueuedEvents, maxQueuedBytes: opts.maxQueuedBytes };
  }

  get size(): number {
    return this.#all.size;
  }
  get isClosing(): boolean {
    return this.#closing;
  }

  /**
   * Takes over a response: writes the headers, the opening frame and the agent state, then replays
   * the log after `after` (undefined: start live at the head) and joins the broadcast.
   */
  subscribe(res: ServerResponse, init: { after: number | undefined; sessionId: string | undefined; slot: Disposable }): Subscriber {
    if (this.#closing) throw new KeelError(503, 'shutting_down', 'Keel is shutting down; reconnect in a moment.');
    const head = this.#o.head();
    // A resume point past the head comes from an older database (or a foreign client): start at the head.
    const lastSeq = init.after === undefined ? head : Math.min(init.after, head);
    const id = (this.#nextId++).toString(36);
    const now = this.#o.clock.now();
    const endsAt = now + Math.floor(this.#o.maxLifetimeMs * (1 - Math.random() * LIFETIME_JITTER));
    res.writeHead(200, { ...SSE_HEADERS, 'x-keel-connection-id': id });
    flattenHeader(res);
    // The headers go out now, through the response; every frame after them goes straight to the socket (see Subscriber).
    res.flushHeaders();
    const s = new Subscriber(this, res, { id, sessionId: init.sessionId, lastSeq, endsAt, slot: init.slot });
    this.#all.add(s);
    this.#connectionsTotal++;
    this.#ticker ??= this.#o.clock.setInterval(() => this.#tick(), this.#o.heartbeatMs);

    s.send(new WireFrame(openingFrame(id, this.#o.retryMs)));
    this.#refreshState();
    s.stateVersion = this.#stateVersion;
    s.send(this.#stateFrame);
    if (lastSeq >= head) this.#goLive(s);
    else void this.#replay(s);
    return s;
  }

  /** Broadcasts one appended event to the live subscribers that want it. */
  publish(e: StoredEvent, json: string): void {
    this.#eventsPublished++;
    const bySession = this.#liveBySession.get(e.sessionId);
    if (this.#liveAll.size === 0 && bySession === undefined) return;
    const frame = new WireFrame(messageFrameJson(e.seq, json));
    for (const s of this.#liveAll) this.#deliver(s, e.seq, frame);
    if (bySession) for (const s of bySession) this.#deliver(s, e.seq, frame);
  }

  #deliver(s: Subscriber, seq: number, frame: WireFrame): void {
    if (seq <= s.lastSeq) return;
    s.lastSeq = seq;
    s.send(frame);
  }

  /** Reads the agent state and sends `event: state` to every live subscriber if it changed. */
  publishState(): void {
    if (!this.#refreshState()) return;
    for (const s of this.#all) {
      if (!s.live) continue; // a replaying subscriber gets the newest state when it goes live
      s.stateVersion = this.#stateVersion;
      s.send(this.#stateFrame);
    }
  }

  /** Re-reads the state; true when it changed (the cached frame is then the new one). */
  #refreshState(): boolean {
    let json: string;
    try {
      json = JSON.stringify(this.#o.readState() ?? null);
    } catch (err) {
      this.#o.log.error({ err }, 'reading the agent state failed; /stream keeps the previous one');
      return false;
    }
    if (json === this.#stateJson) return false;
    this.#stateJson = json;
    this.#stateFrame = new WireFrame(stateFrame(JSON.parse(json)));
    this.#stateVersion++;
    return true;
  }

  async #replay(s: Subscriber): Promise<void> {
    try {
      // Bounded by the log: each round writes at least one row or waits for the socket (or its close).
      for (;;) {
        if (s.isClosed) return;
        const rows = this.#o.readLog(s.lastSeq, s.sessionId, REPLAY_PAGE);
        let stoppedEarly = false;
        // Corked: a page goes out in one write, not one per row.
        s.socket.cork();
        for (const r of rows) {
          s.lastSeq = r.seq;
          if (!s.writeDirect(new WireFrame(messageFrameJson(r.seq, r.json)))) {
            // Rows read but not written are dropped here and read again later: memory stays one page.
            stoppedEarly = true;
            break;
          }
        }
        s.socket.uncork();
        if (!stoppedEarly && rows.length < REPLAY_PAGE) {
          // Caught up, in the same synchronous step as the read: see the file comment.
          this.#goLive(s);
          return;
        }
        if (s.socket.writableNeedDrain) await drainOrClose(s.socket);
        else await new Promise((r) => setImmediate(r)); // let other work run between pages of a long backlog
      }
    } catch (err) {
      this.#o.log.warn({ err, connection: s.id }, '/stream backlog replay failed; the client will reconnect');
      s.destroy();
    }
  }

  #goLive(s: Subscriber): void {
    if (s.isClosed) return;
    s.live = true;
    if (s.sessionId === undefined) this.#liveAll.add(s);
    else {
      let set = this.#liveBySession.get(s.sessionId);
      if (!set) this.#liveBySession.set(s.sessionId, (set = new Set()));
      set.add(s);
    }
    if (s.stateVersion !== this.#stateVersion) {
      s.stateVersion = this.#stateVersion;
      s.send(this.#stateFrame);
    }
  }

  /** The shared timer: heartbeats, and the end of connections past their lifetime. */
  #tick(): void {
    const now = this.#o.clock.now();
    for (const s of this.#all) {
      if (now >= s.endsAt) {
        this.#lifetimeEndedTotal++;
        s.end(new WireFrame(closingFrame('max_lifetime', this.#o.retryMs)));
      } else if (!s.isBackpressured) s.send(HEARTBEAT);
    }
  }

  overflow(s: Subscriber): void {
    this.#cutTotal++;
    this.#o.audit.record('stream', 'cut', `subscriber ${s.id} cut: its queue reached ${this.limits.maxQueuedEvents} events / ${this.limits.maxQueuedBytes} bytes (--sse-max-queued-events / --sse-max-queued-bytes); its client resumes from the log with Last-Event-ID`);
    this.#o.log.info({ connection: s.id, queued_events: s.queuedEvents, queued_bytes: s.queuedBytes }, '/stream subscriber cut: not reading fast enough');
    s.destroy();
  }

  closed(s: Subscriber): void {
    this.#all.delete(s);
    if (s.sessionId === undefined) this.#liveAll.delete(s);
    else {
      const set = this.#liveBySession.get(s.sessionId);
      if (set?.delete(s) && set.size === 0) this.#liveBySession.delete(s.sessionId);
    }
    if (this.#all.size === 0) {
      this.#ticker?.dispose();
      this.#ticker = undefined;
    }
  }

  /** Shutdown: refuse new subscribers and end every stream (clients reconnect once Keel is back). */
  closeAll(reason: string): number {
    this.#closing = true;
    const n = this.#all.size;
    const frame = new WireFrame(closingFrame(reason, this.#o.retryMs));
    for (const s of [...this.#all]) s.end(frame);
    return n;
  }

  stats(): Record<string, number> {
    let live = 0;
    let queuedEvents = 0;
    let queuedBytes = 0;
    let socketBytes = 0;
    let backpressured = 0;
    for (const s of this.#all) {
      if (s.live) live++;
      queuedEvents += s.queuedEvents;
      queuedBytes += s.queuedBytes;
      socketBytes += s.bufferedBytes;
      if (s.isBackpressured) backpressured++;
    }
    return {
      subscribers: this.#all.size,
      live,
      replaying: this.#all.size - live,
      session_filters: this.#liveBySession.size,
      backpressured,
      queued_events: queuedEvents,
      queued_bytes: queuedBytes,
      socket_buffered_bytes: socketBytes,
      connections_total: this.#connectionsTotal,
      cut_total: this.#cutTotal,
      lifetime_ended_total: this.#lifetimeEndedTotal,
      events_published_total: this.#eventsPublished,
      heartbeat_timer: this.#ticker ? 1 : 0,
    };
  }

  dispose(): void {
    this.#closing = true;
    for (const s of [...this.#all]) s.destroy();
    this.#ticker?.dispose();
    this.#ticker = undefined;
  }
}

/**
 * Node builds `res._header` (kept for the life of the response) by concatenation: a rope of ~35
 * string nodes, about 1 KiB per idle subscriber. Reading a character flattens it in place, leaving
 * one flat string of ~300 bytes.
 */
function flattenHeader(res: ServerResponse): void {
  const h = (res as { _header?: unknown })._header;
  if (typeof h === 'string' && h.length) h.charCodeAt(h.length >> 1);
}

/** Resolves on the next 'drain' or 'close', removing both listeners either way. */
function drainOrClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * One chat session's live events from `/stream?session=ID`, resumed from the last seq seen.
 * EventSource reconnects on its own (sending Last-Event-ID) after a dropped connection or the
 * server's maximum lifetime; it gives up on a non-200 answer (503 too_many_connections), and then
 * this class finds out why and retries on its own schedule, from the last seq it has.
 */
import { Backoff } from '../terminals/backoff.ts';
import { Timer, type Disposable } from '../lifecycle.ts';
import type { AgentState, StoredEvent } from './types.ts';

export type StreamStatus =
  | { state: 'connecting' }
  | { state: 'live' }
  | { state: 'reconnecting' }
  /** Refused (503): "Too many connections", overloaded or shutting down; retried with backoff. */
  | { state: 'limited'; message: string; retryInMs: number }
  | { state: 'failed'; message: string; retryInMs: number };

export interface AgentStreamHandlers {
  onEvent(ev: StoredEvent): void;
  onState(s: AgentState): void;
  onStatus(s: StreamStatus): void;
}

/** How long a probe of a refused stream may take before it counts as unreachable. */
const PROBE_TIMEOUT_MS = 10_000;

export class AgentStream implements Disposable {
  readonly #sessionId: string;
  readonly #h: AgentStreamHandlers;
  readonly #retry = new Timer();
  readonly #backoff = new Backoff({ baseMs: 1_000, capMs: 30_000, jitter: 0.5 });
  #es: EventSource | undefined;
  #lastSeq: number;
  #disposed = false;

  constructor(sessionId: string, fromSeq: number, h: AgentStreamHandlers) {
    this.#sessionId = sessionId;
    this.#lastSeq = fromSeq;
    this.#h = h;
    this.#open();
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Reconnect now (the user pressed "Retry"). */
  retryNow(): void {
    if (this.#disposed) return;
    this.#retry.cancel();
    this.#close();
    this.#open();
  }

  #open(): void {
    this.#h.onStatus({ state: 'connecting' });
    const es = new EventSource(`/stream?session=${encodeURIComponent(this.#sessionId)}&from=${this.#lastSeq}`);
    this.#es = es;
    es.onopen = () => {
      if (this.#es !== es) return;
      this.#backoff.reset();
      this.#h.onStatus({ state: 'live' });
    };
    es.addEventListener('message', (e) => {
      if (this.#es !== es) return;
      let ev: StoredEvent;
      try {
        ev = JSON.parse((e as MessageEvent<string>).data) as StoredEvent;
      } catch {
        return; // A frame that is not JSON is not ours to render; the next one will be.
      }
      // Exactly once: our own reconnects resume from lastSeq, but be safe against overlaps.
      if (ev.seq <= this.#lastSeq) return;
      this.#lastSeq = ev.seq;
      this.#h.onEvent(ev);
    });
    es.addEventListener('state', (e) => {
      if (this.#es !== es) return;
      try {
        this.#h.onState(JSON.parse((e as MessageEvent<string>).data) as AgentState);
      } catch {
        // Ignored on purpose: a malformed state only delays the next one.
      }
    });
    es.onerror = () => {
      if (this.#es !== es) return;
      if (es.readyState === EventSource.CONNECTING) {
        this.#h.onStatus({ state: 'reconnecting' });
        return;
      }
      // CLOSED: EventSource gave up (a non-200 answer). Ask why, then retry ourselves.
      this.#close();
      void this.#probeAndRetry();
    };
  }

  async #probeAndRetry(): Promise<void> {
    const delay = this.#backoff.next();
    let limited = false;
    let message = 'Lost the connection to Keel.';
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), PROBE_TIMEOUT_MS);
    try {
      const res = await fetch(`/stream?session=${encodeURIComponent(this.#sessionId)}&from=${this.#lastSeq}`, { credentials: 'same-origin', signal: ctl.signal });
      if (res.ok) {
        // It would work now: drop this probe's stream at once and reconnect properly.
        ctl.abort();
        message = 'Reconnecting…';
      } else {
        const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
        limited = res.status === 503;
        message =
          body.error === 'too_many_connections'
            ? 'Too many connections: Keel is at its limit of live streams.'
            : (body.message ?? `The live stream answered HTTP ${res.status}.`);
      }
    } catch {
      message = 'Cannot reach Keel: is the server running, and is the network up?';
    } finally {
      clearTimeout(t);
    }
    if (this.#disposed) return;
    this.#h.onStatus({ state: limited ? 'limited' : 'failed', message, retryInMs: delay });
    this.#retry.set(() => this.#open(), delay);
  }

  #close(): void {
    const es = this.#es;
    this.#es = undefined;
    if (es) {
      es.onopen = null;
      es.onerror = null;
      es.close();
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#retry.dispose();
    this.#close();
  }
}

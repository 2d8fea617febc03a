/**
 * Test doubles for the agent's collaborators: an in-memory event log with the same contract as
 * src/stream/event-log.ts (append, paged read), and terminals whose screens a test writes.
 */
import type { AgentEventPayload, StoredEvent } from '../stream/events.ts';
import type { TerminalControl, TerminalInfo } from './terminal-control.ts';
import type { AgentEventLog } from './turn.ts';

export class MemoryEventLog implements AgentEventLog {
  readonly events: StoredEvent[] = [];
  #seq = 0;
  #waiters = new Set<() => void>();

  append(sessionId: string, payload: AgentEventPayload): StoredEvent {
    const e: StoredEvent = { seq: ++this.#seq, sessionId, at: Date.now(), payload };
    this.events.push(e);
    for (const w of [...this.#waiters]) w();
    return e;
  }

  read(opts: { after: number; sessionId?: string; limit?: number }): StoredEvent[] {
    const limit = opts.limit ?? 1_000;
    return this.events.filter((e) => e.seq > opts.after && (opts.sessionId === undefined || e.sessionId === opts.sessionId)).slice(0, limit);
  }

  of(sessionId: string): AgentEventPayload[] {
    return this.events.filter((e) => e.sessionId === sessionId).map((e) => e.payload);
  }

  /** Resolves with the first event of `sessionId` after `afterSeq` matching `pred` (bounded wait). */
  async waitFor(sessionId: string, pred: (p: AgentEventPayload) => boolean, timeoutMs = 10_000, afterSeq = 0): Promise<StoredEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.seq > afterSeq && e.sessionId === sessionId && pred(e.payload));
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching event for ${sessionId} within ${timeoutMs} ms; have: ${this.of(sessionId).map((p) => p.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 25);
        const self = this;
        function done() {
          clearTimeout(t);
          self.#waiters.delete(done);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
  }
}

interface FakeTerm {
  info: TerminalInfo;
  screen: string;
  bytes: number;
  input: string[];
}

/** Terminals in memory: `typed` records input, `print` changes the screen and the output counter. */
export class FakeTerminals implements TerminalControl {
  readonly sizeRange = { minCols: 2, maxCols: 500, minRows: 1, maxRows: 200 };
  readonly terms = new Map<string, FakeTerm>();
  #n = 0;

  list(): TerminalInfo[] {
    return [...this.terms.values()].map((t) => t.info);
  }
  create(req: { cols: number; rows: number; cwd?: string; command?: string | null; name?: string }): TerminalInfo {
    const id = `t_fake${++this.#n}`;
    const info: TerminalInfo = { id, name: req.name ?? 'sh', cwd: req.cwd ?? '/', command: req.command ?? null, cols: req.cols, rows: req.rows, state: 'running' };
    this.terms.set(id, { info, screen: '$ ', bytes: 2, input: [] });
    return info;
  }
  #get(id: string): FakeTerm {
    const t = this.terms.get(id);
    if (!t) throw new Error(`No terminal ${id}`);
    return t;
  }
  async screen(id: string): Promise<string> {
    return this.#get(id).screen;
  }
  write(id: string, data: string): 'ok' | 'exited' | 'busy' {
    const t = this.#get(id);
    if (t.info.state !== 'running') return 'exited';
    t.input.push(data);
    return 'ok';
  }
  outputBytes(id: string): number | undefined {
    const t = this.terms.get(id);
    return t && t.info.state === 'running' ? t.bytes : undefined;
  }
  print(id: string, text: string): void {
    const t = this.#get(id);
    t.screen += text;
    t.bytes += Buffer.byteLength(text);
  }
  exit(id: string): void {
    this.#get(id).info.state = 'exited';
  }
}

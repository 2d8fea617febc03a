/**
 * All terminal sessions: limits (sessions, viewers per session and in total), idle close and
 * inactive trim, the mirror pool, the tabs kept for a restart, and what /debug/memory reports.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Logger } from 'pino';
import type { KeelContext } from '../context.ts';
import { connectionLimiter } from '../context.ts';
import { KeelError } from '../core/errors.ts';
import { DisposableBase } from '../core/lifecycle.ts';
import { SlotLimiter, type Slot } from '../core/slot-limiter.ts';
import { maxUnackedBytes } from './flow-policy.ts';
import { Mirror, MirrorPool } from './mirror.ts';
import type { SizeRange } from './protocol.ts';
import { defaultName, resolveShell, terminalEnv, TerminalSession, type SessionConfig } from './session.ts';
import { ShareLinks } from './share-links.ts';
import { TabStore, type TabRecord } from './tab-store.ts';
import type { Role } from './viewer.ts';

export interface CreateRequest {
  cols: number;
  rows: number;
  cwd?: string;
  command?: string | null;
  name?: string;
}

interface Entry {
  session: TerminalSession;
  slot: Slot;
  /** Viewers of this terminal, owners and read-only together. */
  viewers: SlotLimiter;
  /** Read-only viewers of this terminal (a share of `viewers` that leaves slots for owners). */
  readOnly: SlotLimiter;
}

/** A read-only cap that always leaves at least one of `total` slots to owners. */
function readOnlyCap(option: number, total: number): number {
  return Math.max(0, Math.min(option, total - 1));
}

export class TerminalManager extends DisposableBase {
  readonly sessionLimiter: SlotLimiter;
  readonly viewerLimiter: SlotLimiter;
  /** Read-only viewers of all terminals (a share of `viewerLimiter` that leaves slots for owners). */
  readonly readOnlyViewerLimiter: SlotLimiter;
  readonly sizeRange: SizeRange;
  readonly tabs: TabStore;
  readonly shares: ShareLinks;
  readonly #ctx: KeelContext;
  readonly #log: Logger;
  readonly #pool: MirrorPool;
  readonly #sessions = new Map<string, Entry>();
  #shuttingDown = false;
  #closedTotal = 0;

  constructor(ctx: KeelContext) {
    super();
    const o = ctx.options;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ subsystem: 'terminals' });
    this.sizeRange = { minCols: o.terminalMinCols, maxCols: o.terminalMaxCols, minRows: o.terminalMinRows, maxRows: o.terminalMaxRows };
    this.sessionLimiter = connectionLimiter(ctx, 'terminal_sessions', o.maxTerminalSessions, '--max-terminal-sessions');
    this.viewerLimiter = connectionLimiter(ctx, 'terminal_viewers', o.maxTerminalViewers, '--max-terminal-viewers');
    this.readOnlyViewerLimiter = connectionLimiter(ctx, 'terminal_read_only_viewers', readOnlyCap(o.maxReadOnlyTerminalViewers, o.maxTerminalViewers), '--max-read-only-terminal-viewers');
    this.#pool = this.register(new MirrorPool(o.terminalMirrorWorkers, { fastForward: o.terminalMirrorFastForward, idleStopMs: o.terminalMirrorWorkerIdleMs }));
    ctx.observe.addMemoryPart('workers', this.#pool);
    this.tabs = new TabStore(ctx.db, o.maxTerminalSessions);
    this.shares = this.register(new ShareLinks(ctx.db, ctx.auth, ctx.clock, { defaultTtlMs: o.terminalShareTtlMs, maxTtlMs: o.terminalShareMaxTtlMs, maxLinks: o.maxTerminalShareLinks }));

    const sweepMs = [o.terminalIdleCloseMs, o.terminalInactiveTrimMs].filter((ms) => ms > 0);
    if (sweepMs.length) this.register(ctx.clock.setInterval(() => this.sweep(), Math.max(1_000, Math.floor(Math.min(...sweepMs) / 4))));
  }

  get(id: string): TerminalSession | undefined {
    return this.#sessions.get(id)?.session;
  }

  list(): TerminalSession[] {
    return [...this.#sessions.values()].map((e) => e.session);
  }

  /**
   * Takes the slots a viewer of `id` needs: per session first (its limit is the more precise
   * reason), then in total; a read-only viewer also takes a read-only slot at each level, so share
   * links can never fill the slots owners need.
   */
  acquireViewerSlots(id: string, role: Role): Slot[] {
    const e = this.#sessions.get(id);
    if (!e) throw notFound(id);
    const limiters = role === 'owner' ? [e.viewers, this.viewerLimiter] : [e.readOnly, e.viewers, this.readOnlyViewerLimiter, this.viewerLimiter];
    const held: Slot[] = [];
    try {
      for (const l of limiters) held.push(l.acquire());
      return held;
    } catch (err) {
      for (const s of held) s.dispose();
      throw err;
    }
  }

  /** Whether a viewer could attach now (the cheap check before the upgrade). */
  assertViewerRoom(id: string, role: Role): void {
    for (const s of this.acquireViewerSlots(id, role)) s.dispose();
  }

  create(req: CreateRequest): TerminalSession {
    if (this.#shuttingDown) throw new KeelError(503, 'shutting_down', 'Keel is shutting down; try again after it restarts.');
    const cwd = req.cwd || os.homedir();
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(cwd);
    } catch {
      st = undefined;
    }
    if (!st?.isDirectory()) throw new KeelError(400, 'invalid_cwd', `cwd "${cwd}" is not an existing directory.`);
    const slot = this.sessionLimiter.acquire();
    const o = this.#ctx.options;
    const shell = resolveShell(o.terminalShell);
    const command = req.command ?? null;
    const cfg: SessionConfig = {
      shell,
      scrollbackLines: o.terminalScrollbackLines,
      highWatermarkBytes: o.terminalHighWatermarkBytes,
      lowWatermarkBytes: o.terminalLowWatermarkBytes,
      frameBytes: o.terminalFrameBytes,
      mirrorBacklogBytes: o.terminalMirrorBacklogBytes,
      killGraceMs: o.terminalKillGraceMs,
      maxPendingInputBytes: o.terminalMaxPendingInputBytes,
      sizeRange: this.sizeRange,
      clock: this.#ctx.clock,
      log: this.#log,
      pool: this.#pool,
    };
    let session: TerminalSession;
    try {
      session = new TerminalSession({ name: req.name || defaultName(command, shell), cols: req.cols, rows: req.rows, cwd, command }, cfg, terminalEnv());
    } catch (err) {
      slot.dispose();
      throw new KeelError(500, 'spawn_failed', `The terminal could not be started (${shell}): ${(err as Error).message}`);
    }
    try {
      this.tabs.add(this.#record(session));
    } catch (err) {
      // The shell is running but the create fails (a locked or full database): nothing of it may
      // stay behind — no process, no map entry; the slot is held until the process is gone.
      this.#log.error({ err, id: session.id }, 'terminal create failed after spawn; closing the new shell');
      void session.close().finally(() => slot.dispose());
      throw err;
    }
    const viewers = new SlotLimiter(`viewers of terminal ${session.id}`, o.maxViewersPerSession, { option: '--max-viewers-per-session' });
    const readOnly = new SlotLimiter(`read-only viewers of terminal ${session.id}`, readOnlyCap(o.maxReadOnlyViewersPerSession, o.maxViewersPerSession), { option: '--max-read-only-viewers-per-session' });
    this.#sessions.set(session.id, { session, slot, viewers, readOnly });
    session.onExit((s, info) => {
      this.#sessions.delete(s.id);
      slot.dispose();
      this.shares.forgetTerminal(s.id);
      this.#closedTotal++;
      if (!this.#shuttingDown) this.tabs.remove(s.id);
      this.#ctx.audit.record('terminals', 'close', `terminal ${s.id} (${s.name}) exited: code ${info.code ?? '-'} signal ${info.signal ?? '-'}`);
    });
    return session;
  }

  rename(id: string, name: string): TerminalSession {
    const s = this.get(id);
    if (!s) throw notFound(id);
    s.rename(name);
    this.tabs.update(id, { name });
    return s;
  }

  /** Closes a session; resolves when its processes are gone and its viewers told. */
  async close(id: string): Promise<void> {
    const s = this.get(id);
    if (!s) throw notFound(id);
    await s.close();
  }

  /** Recreates previous tabs as new shells in the same directories. */
  restore(ids?: string[]): { created: TerminalSession[]; failed: { id: string; error: string; message: string }[] } {
    const prev = this.tabs.previous().filter((t) => !ids || ids.includes(t.id));
    const created: TerminalSession[] = [];
    const failed: { id: string; error: string; message: string }[] = [];
    for (const t of prev) {
      try {
        const cols = clamp(t.cols, this.sizeRange.minCols, this.sizeRange.maxCols);
        const rows = clamp(t.rows, this.sizeRange.minRows, this.sizeRange.maxRows);
        created.push(this.create({ cols, rows, cwd: t.cwd, command: t.command, name: t.name }));
        this.tabs.remove(t.id);
      } catch (err) {
        const e = err instanceof KeelError ? err : new KeelError(500, 'restore_failed', String(err));
        failed.push({ id: t.id, error: e.code, message: e.message });
      }
    }
    if (ids) for (const id of ids) if (!prev.some((t) => t.id === id)) failed.push({ id, error: 'not_found', message: `No previous tab ${id}.` });
    return { created, failed };
  }

  /** Idle close and inactive trim; also run by tests. */
  sweep(): void {
    const o = this.#ctx.options;
    const now = this.#ctx.clock.now();
    for (const s of this.list()) {
      if (s.viewerCount > 0 || s.state !== 'running') continue;
      const idle = now - s.lastViewerAt;
      if (o.terminalIdleCloseMs > 0 && idle >= o.terminalIdleCloseMs) {
        this.#ctx.audit.record('terminals', 'reap', `terminal ${s.id} (${s.name}) closed after ${Math.round(idle / 1000)} s without a viewer`);
        void s.close();
      } else if (o.terminalInactiveTrimMs > 0 && idle >= o.terminalInactiveTrimMs && !s.trimmed) {
        void s.trim().then((lines) => {
          if (lines > 0) this.#ctx.audit.record('terminals', 'trim', `terminal ${s.id}: ${lines} scrollback lines dropped after ${Math.round(idle / 1000)} s without a viewer`);
        });
      }
    }
  }

  /** The health monitor's trim hook: drop the scrollback of every session nobody watches. */
  trimInactive(): string {
    const targets = this.list().filter((s) => s.viewerCount === 0 && s.state === 'running');
    for (const s of targets) void s.trim();
    return `trimming the scrollback of ${targets.length} terminal(s) without viewers`;
  }

  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    // The tabs are offered again at the next start, at the size they had last.
    for (const s of this.list()) this.tabs.update(s.id, { name: s.name, cols: s.cols, rows: s.rows });
    await Promise.all(this.list().map((s) => s.close({ shutdown: true })));
  }

  stats(): Record<string, number> {
    let viewers = 0;
    let behind = 0;
    let paused = 0;
    let mirrorBytes = 0;
    let backlog = 0;
    let held = 0;
    let queued = 0;
    let pauses = 0;
    let mirrorPauses = 0;
    let pendingInput = 0;
    let refusedInput = 0;
    let degraded = 0;
    for (const s of this.list()) {
      if (s.degraded) degraded++;
      pendingInput += s.pendingInputBytes;
      refusedInput += s.refusedInput.bytes;
      pauses += s.pauses.total;
      mirrorPauses += s.pauses.mirror;
      viewers += s.viewerCount;
      if (s.paused) paused++;
      mirrorBytes += s.mirrorBytes;
      backlog += s.mirrorBacklogBytes;
      held += s.mirrorHeldBytes;
      for (const v of s.viewers) {
        if (v.behind) behind++;
        queued += v.queuedBytes;
      }
    }
    return {
      sessions: this.#sessions.size,
      viewers,
      mirror_bytes: mirrorBytes,
      mirror_backlog_bytes: backlog,
      mirror_held_bytes: held,
      mirror_skipped_bytes: this.#pool.skippedBytes,
      queued_bytes: queued,
      paused,
      pauses_open_sessions: pauses,
      mirror_pauses_open_sessions: mirrorPauses,
      behind,
      share_links: this.shares.count,
      share_links_revoked_total: this.shares.revokedTotal,
      share_links_expired_total: this.shares.expiredTotal,
      pending_input_bytes: pendingInput,
      input_refused_bytes: refusedInput,
      mirror_workers: this.#pool.workers,
      mirror_workers_started: this.#pool.workersStarted,
      mirror_workers_stopped: this.#pool.workersStopped,
      mirror_failures: this.#pool.failures,
      mirror_degraded_sessions: degraded,
      closed_total: this.#closedTotal,
    };
  }

  /** Worst case from the limits: mirrors at the largest size, mirror backlogs, queued input, each viewer's in-flight output. */
  budgetBytes(): number {
    const o = this.#ctx.options;
    const mirror = Mirror.worstCaseBytes(o.terminalMaxCols, o.terminalMaxRows, o.terminalScrollbackLines);
    const perViewer = maxUnackedBytes(o.terminalHighWatermarkBytes, o.terminalFrameBytes) + o.terminalFrameBytes + o.terminalMirrorBacklogBytes + o.maxWsFrameBytes;
    return o.maxTerminalSessions * (mirror + 2 * o.terminalMirrorBacklogBytes + o.terminalMaxPendingInputBytes) + Math.min(o.maxTerminalViewers, o.maxTerminalSessions * o.maxViewersPerSession) * perViewer;
  }

  #record(s: TerminalSession): TabRecord {
    return { id: s.id, name: s.name, cwd: s.cwd, command: s.command, cols: s.cols, rows: s.rows, createdAt: new Date(s.createdAt).toISOString() };
  }

  override dispose(): void {
    // Sessions still here at dispose (shutdown hook timed out): their PTYs must not outlive Keel.
    for (const e of this.#sessions.values()) e.session.close().catch(() => {});
    super.dispose();
  }
}

export function notFound(id: string): KeelError {
  return new KeelError(404, 'terminal_not_found', `No terminal ${id}: it has exited or was closed. Create a new one with POST /api/terminals.`);
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}


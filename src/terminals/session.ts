/**
 * A terminal session: one PTY, its headless mirror and its viewers. The PTY outlives its viewers
 * (like tmux) and lives until its process exits or the session is closed. The session owns every
 * listener, timer and the mirror; exiting disposes all of them, after the viewers have received
 * every byte the process printed.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import pty from '@lydell/node-pty';
import type { IPty } from '@lydell/node-pty';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { DisposableBase, toDisposable, type Disposable } from '../core/lifecycle.ts';
import { behindAt, behindMarginBytes, fastestPacerLoad, HoldBudget, isLagging, viewersHoldPty, type FlowMarks } from './flow-policy.ts';
import type { SnapshotReply } from './mirror-messages.ts';
import type { Mirror, MirrorPool } from './mirror.ts';
import { foregroundProgram } from './foreground.ts';
import { sessionMembers, signalSession } from './process-tree.ts';
import type { ExitInfo, Meta, SizeRange } from './protocol.ts';
import { PtyInput } from './pty-input.ts';
import { Utf8Carry } from './utf8-boundary.ts';
import type { Viewer, ViewerHost } from './viewer.ts';

/** After SIGKILL, how long the PTY may take to report EOF before its socket is destroyed anyway. */
const FORCE_DESTROY_AFTER_KILL_MS = 1_000;
/** How often a closing session checks whether its processes are gone (to finish before the grace ends). */
const REAP_POLL_MS = 50;

export interface SessionSpec {
  name: string;
  cols: number;
  rows: number;
  cwd: string;
  /** null: an interactive shell; otherwise run with `<shell> -c`. */
  command: string | null;
}

export interface SessionConfig {
  shell: string;
  scrollbackLines: number;
  highWatermarkBytes: number;
  lowWatermarkBytes: number;
  /** Output gathered for a viewer before it is framed (--terminal-frame-bytes). */
  frameBytes: number;
  mirrorBacklogBytes: number;
  killGraceMs: number;
  /** Input the program has not taken yet, past which input is refused (--terminal-max-pending-input-bytes). */
  maxPendingInputBytes: number;
  sizeRange: SizeRange;
  clock: Clock;
  log: Logger;
  pool: MirrorPool;
}

export type SessionState = 'running' | 'closing' | 'exited';

interface PtySocket {
  destroy(...args: unknown[]): unknown;
  readonly destroyed?: boolean;
}

/** What a write answers: 'busy' means refused whole (--terminal-max-pending-input-bytes), 'exited' that nothing reads it any more. */
export type WriteResult = 'ok' | 'exited' | 'busy';

export class TerminalSession extends DisposableBase implements ViewerHost {
  readonly id: string;
  readonly cwd: string;
  readonly command: string | null;
  readonly createdAt: number;
  readonly pid: number;
  readonly sizeRange: SizeRange;
  readonly highWatermarkBytes: number;
  readonly frameBytes: number;
  readonly lowWatermarkBytes: number;
  readonly maxSyncPendingBytes: number;
  readonly #marks: FlowMarks;
  #name: string;
  #cols: number;
  #rows: number;
  readonly #cfg: SessionConfig;
  readonly #pty: IPty;
  readonly #input: PtyInput;
  /** The refusal spell each viewer was last told about: a refused paste of many frames gives one notice, not one per frame. */
  readonly #toldBusy = new WeakMap<Viewer, number>();
  #mirror: Mirror;
  /** The mirror was rebuilt after xterm threw on it (or its worker died): snapshots may miss some output since. */
  #degraded = false;
  /** Output is cut at character boundaries before anyone sees it (utf8-boundary.ts). */
  readonly #utf8 = new Utf8Carry();
  readonly #viewers = new Set<Viewer>();
  /** Each viewer's budget for holding the PTY while it lags (flow-policy.ts); keyed by the viewers attached. */
  readonly #holds = new Map<Viewer, HoldBudget>();
  /** Wakes the flow check when the first holder's budget runs out (no acknowledgement may come). */
  #holdTimer: Disposable | undefined;
  /** Time the PTY was held for lagging viewers, and since when it is held now. */
  #heldMs = 0;
  #heldSince: number | undefined;
  /** The viewer whose device sets the PTY size (docs/protocol.md, size): the owner that last typed or claimed it. */
  #sizeController: Viewer | undefined;
  /** Each owner viewer's preferred size and when it was last active (attached, typed, claimed), to pick the next controller. */
  readonly #sizeWants = new Map<Viewer, { cols?: number; rows?: number; activeAt: number }>();
  #activity = 0;
  #state: SessionState = 'running';
  #paused = false;
  /** Times flow control paused the PTY (by a viewer or the mirror's backlog). */
  #pauses = 0;
  #mirrorPauses = 0;
  /** The process is gone: read the PTY to its end regardless of flow control so no output is lost. */
  #draining = false;
  #exit: ExitInfo | undefined;
  #bytesOut = 0;
  #lastViewerAt: number;
  #trimmed = false;
  #snapshotInFlight: { offset: number; promise: Promise<SnapshotReply> } | undefined;
  #exitListeners: ((s: TerminalSession, info: ExitInfo) => void)[] = [];
  #ptySocket: PtySocket | undefined;
  #realDestroy: ((...args: unknown[]) => unknown) | undefined;
  #reaping: Promise<void> | undefined;
  readonly #done: Promise<void>;
  #resolveDone!: () => void;
  readonly #exited: Promise<void>;
  #resolveExited!: () => void;

  constructor(spec: SessionSpec, cfg: SessionConfig, env: NodeJS.ProcessEnv) {
    super();
    this.#cfg = cfg;
    this.id = 't_' + crypto.randomBytes(9).toString('base64url');
    this.#name = spec.name;
    this.#cols = spec.cols;
    this.#rows = spec.rows;
    this.cwd = spec.cwd;
    this.command = spec.command;
    this.sizeRange = cfg.sizeRange;
    this.highWatermarkBytes = cfg.highWatermarkBytes;
    this.frameBytes = cfg.frameBytes;
    this.lowWatermarkBytes = cfg.lowWatermarkBytes;
    this.maxSyncPendingBytes = cfg.mirrorBacklogBytes + cfg.highWatermarkBytes;
    this.#marks = { highWatermarkBytes: cfg.highWatermarkBytes, lowWatermarkBytes: cfg.lowWatermarkBytes, behindMarginBytes: behindMarginBytes(cfg.highWatermarkBytes, cfg.frameBytes) };
    this.createdAt = cfg.clock.now();
    this.#lastViewerAt = this.createdAt;
    this.#done = new Promise((r) => (this.#resolveDone = r));
    this.#exited = new Promise((r) => (this.#resolveExited = r));

    const args = spec.command === null ? [] : ['-c', spec.command];
    // encoding null: raw Buffers, so acknowledgements count bytes exactly and nothing is decoded twice.
    this.#pty = pty.spawn(cfg.shell, args, { name: 'xterm-256color', cols: spec.cols, rows: spec.rows, cwd: spec.cwd, env, encoding: null });
    this.pid = this.#pty.pid;
    this.#mirror = this.#openMirror();
    this.#guardExitFlush();
    this.register(toDisposable(() => this.#holdTimer?.dispose()));
    this.#input = this.register(
      new PtyInput({
        fd: (this.#pty as unknown as { fd: number }).fd,
        maxPendingBytes: cfg.maxPendingInputBytes,
        clock: cfg.clock,
        // Once the PTY socket is destroyed its fd number may be reused by anything Keel opens next.
        fdOpen: () => this.#state === 'running' && this.#ptySocket?.destroyed !== true,
        onWriteError: (err) => cfg.log.debug({ err, id: this.id }, 'PTY input write failed; input dropped'),
      }),
    );
    this.register(
      this.#pty.onData((d) => {
        const whole = this.#utf8.push(d as unknown as Buffer);
        if (whole.length) this.#onData(whole);
      }),
    );
    this.register(this.#pty.onExit((e) => void this.#onExit({ code: e.exitCode ?? null, signal: e.signal || null })));
  }

  get name(): string {
    return this.#name;
  }
  /** The program running in the foreground (foreground.ts); null while an interactive shell waits at its prompt, or once exited. */
  get foreground(): string | null {
    if (this.#state !== 'running') return null;
    return foregroundProgram(this.pid, this.command, () => this.#pty.process, this.#cfg.shell);
  }
  get cols(): number {
    return this.#cols;
  }
  get rows(): number {
    return this.#rows;
  }
  get state(): SessionState {
    return this.#state;
  }
  get paused(): boolean {
    return this.#paused;
  }
  /** Times flow control paused the PTY, and how many of those were for the mirror's backlog. */
  get pauses(): { total: number; mirror: number } {
    return { total: this.#pauses, mirror: this.#mirrorPauses };
  }
  /** Time (ms) the PTY has been paused only to wait for lagging viewers (flow-policy.ts). */
  get heldMs(): number {
    return this.#heldMs + (this.#heldSince === undefined ? 0 : this.#cfg.clock.now() - this.#heldSince);
  }
  get viewerCount(): number {
    return this.#viewers.size;
  }
  get viewers(): ReadonlySet<Viewer> {
    return this.#viewers;
  }
  get bytesOut(): number {
    return this.#bytesOut;
  }
  get mirrorBytes(): number {
    return this.#mirror.estimatedBytes;
  }
  get mirrorBacklogBytes(): number {
    return this.#mirror.backlogBytes;
  }
  /** Plain output held back from the mirror (bounded like its backlog). */
  get mirrorHeldBytes(): number {
    return this.#mirror.heldBytes;
  }
  /** Output the mirror skipped (fast-forward through plain text it could not show). */
  get mirrorSkippedBytes(): number {
    return this.#mirror.skippedBytes;
  }
  /** When the last viewer left (or the session started, if none ever came). */
  get lastViewerAt(): number {
    return this.#lastViewerAt;
  }
  get trimmed(): boolean {
    return this.#trimmed;
  }
  /** The mirror was rebuilt after a failure: a snapshot may miss some output (docs/protocol.md, meta `degraded`). */
  get degraded(): boolean {
    return this.#degraded;
  }
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }
  /** Resolves once the process has exited, viewers are told, and the session's processes are reaped. */
  get done(): Promise<void> {
    return this.#done;
  }

  onExit(fn: (s: TerminalSession, info: ExitInfo) => void): void {
    this.#exitListeners.push(fn);
  }

  rename(name: string): void {
    this.#name = name;
    for (const v of this.#viewers) v.sendMeta();
  }

  // --- ViewerHost ---------------------------------------------------------------------------

  meta(viewer: Viewer, size?: { cols: number; rows: number }): Meta {
    return {
      id: this.id,
      name: this.#name,
      cols: size?.cols ?? this.#cols,
      rows: size?.rows ?? this.#rows,
      viewers: this.#viewers.size,
      role: viewer.role,
      behind: viewer.behind,
      sizeControl: this.#sizeController === undefined ? 'none' : this.#sizeController === viewer ? 'you' : 'other',
      degraded: this.#degraded,
    };
  }

  /** A snapshot as of now; viewers joining at the same byte offset share one request. */
  snapshot(): Promise<SnapshotReply> {
    const s = this.#snapshotInFlight;
    if (s && s.offset === this.#bytesOut) return s.promise;
    const promise = this.#mirror.snapshot();
    const entry = { offset: this.#bytesOut, promise };
    this.#snapshotInFlight = entry;
    const clear = () => {
      if (this.#snapshotInFlight === entry) this.#snapshotInFlight = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }

  screenText(scrollbackLines = 0): Promise<string> {
    return this.#mirror.screenText(scrollbackLines);
  }

  input(viewer: Viewer, data: Buffer): void {
    const r = this.write(data);
    if (r === 'exited') viewer.notice('exited', 'The terminal has exited: input is not sent anywhere.');
    else if (r === 'busy' && this.#toldBusy.get(viewer) !== this.#input.refusalSpell) {
      this.#toldBusy.set(viewer, this.#input.refusalSpell);
      viewer.notice('input_busy', this.busyMessage());
    }
  }

  /**
   * Writes input to the PTY (viewers and the agent) without blocking: what the PTY cannot take yet
   * is queued in order. 'busy': refused whole, because the queue is full (or was, and has not
   * drained since) — see pty-input.ts.
   */
  write(data: Buffer | string): WriteResult {
    if (this.#state !== 'running') return 'exited';
    const r = this.#input.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    return r === 'closed' ? 'exited' : r;
  }

  /** Input waiting for the program to read it. */
  get pendingInputBytes(): number {
    return this.#input.pendingBytes;
  }

  /** Input refused since the session started (whole chunks). */
  get refusedInput(): { chunks: number; bytes: number } {
    return this.#input.refused;
  }

  /** What a refused writer is told (viewers' `input_busy` notice, the agent's terminal_write). */
  busyMessage(): string {
    const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
    return (
      `The program is not reading its input: ${kib(this.#input.pendingBytes)} are still waiting (limit ${kib(this.#input.maxPendingBytes)}, --terminal-max-pending-input-bytes). ` +
      'This input was not sent, nor will any be until the program has read what is waiting; nothing already sent was cut.'
    );
  }

  /**
   * A viewer's preferred size. The PTY follows one device at a time (tmux's "latest" policy): the
   * owner that last typed or explicitly claimed the size. Others' preferences are kept for when they
   * take over; they never reflow the PTY behind the controller's back. With no controller yet (nobody
   * attached has typed), the first owner to state a size takes it.
   */
  resize(viewer: Viewer, cols: number, rows: number, claim: boolean): void {
    const want = this.#sizeWants.get(viewer);
    if (!want) return; // not attached (or read-only)
    want.cols = cols;
    want.rows = rows;
    if (claim) want.activeAt = ++this.#activity;
    if (claim || this.#sizeController === undefined) this.#setSizeController(viewer);
    else if (viewer === this.#sizeController) this.#applySize(cols, rows);
  }

  typed(viewer: Viewer): void {
    const want = this.#sizeWants.get(viewer);
    if (!want) return;
    want.activeAt = ++this.#activity;
    if (viewer !== this.#sizeController) this.#setSizeController(viewer);
  }

  /** The controller who takes over when `viewer` leaves: the most recently active owner that has stated a size. */
  #nextSizeController(): Viewer | undefined {
    let next: Viewer | undefined;
    let at = -1;
    for (const [v, w] of this.#sizeWants) if (w.cols !== undefined && w.activeAt > at) [next, at] = [v, w.activeAt];
    return next;
  }

  #setSizeController(viewer: Viewer | undefined): void {
    const changed = viewer !== this.#sizeController;
    this.#sizeController = viewer;
    const want = viewer && this.#sizeWants.get(viewer);
    // A size change tells every viewer (with the new controller in its meta); otherwise tell them who controls it now.
    const resized = want?.cols !== undefined && want.rows !== undefined && this.#applySize(want.cols, want.rows);
    if (changed && !resized) for (const v of this.#viewers) v.sendMeta();
  }

  /** Resizes the PTY and the mirror; every viewer gets the new size in order with the output. */
  #applySize(cols: number, rows: number): boolean {
    if (this.#state !== 'running' || (cols === this.#cols && rows === this.#rows)) return false;
    this.#cols = cols;
    this.#rows = rows;
    try {
      this.#pty.resize(cols, rows);
    } catch (err) {
      // The PTY closed under us (exit race): the exit path tells the viewers.
      this.#cfg.log.debug({ err, id: this.id }, 'resize after PTY close');
    }
    this.#mirror.resize(cols, rows);
    for (const v of this.#viewers) v.sizeChanged(cols, rows);
    return true;
  }

  flowChanged(): void {
    this.#updateFlow();
  }

  addViewer(viewer: Viewer): void {
    this.#viewers.add(viewer);
    this.#holds.set(viewer, new HoldBudget(this.#cfg.clock.now()));
    if (viewer.role === 'owner') this.#sizeWants.set(viewer, { activeAt: ++this.#activity });
    this.#trimmed = false;
    viewer.start();
    for (const v of this.#viewers) if (v !== viewer) v.sendMeta();
  }

  removeViewer(viewer: Viewer): void {
    if (!this.#viewers.delete(viewer)) return;
    this.#holds.delete(viewer);
    this.#sizeWants.delete(viewer);
    if (this.#viewers.size === 0) this.#lastViewerAt = this.#cfg.clock.now();
    // The next controller's size goes out as a resize; the meta below tells everyone the rest.
    if (viewer === this.#sizeController) {
      this.#sizeController = this.#nextSizeController();
      const want = this.#sizeController && this.#sizeWants.get(this.#sizeController);
      if (want?.cols !== undefined && want.rows !== undefined) this.#applySize(want.cols, want.rows);
    }
    for (const v of this.#viewers) v.sendMeta();
    this.#updateFlow();
  }

  /** Drops the mirror's scrollback (inactive sessions); resolves to the number of lines freed. */
  async trim(): Promise<number> {
    this.#trimmed = true;
    try {
      return await this.#mirror.trim();
    } catch {
      return 0; // the mirror went away meanwhile: nothing left to trim
    }
  }

  // --- lifecycle ------------------------------------------------------------------------------

  /**
   * Hangs up the session: SIGHUP to every process in it, SIGKILL after the grace. Viewers get the
   * exit frame once the PTY has delivered its last byte. `shutdown`: viewers are closed with 1001
   * first instead (Keel is going away, the terminal did not end on its own).
   */
  close(opts: { shutdown?: boolean } = {}): Promise<void> {
    if (opts.shutdown) for (const v of [...this.#viewers]) v.close(1001, 'Keel is shutting down');
    if (this.#state !== 'running') return this.#done;
    this.#state = 'closing';
    // Input the program never read goes nowhere now; holding it would only delay nothing.
    this.#input.dispose();
    this.#hangUp();
    return this.#done;
  }

  #openMirror(): Mirror {
    const m = this.#cfg.pool.open(this.id, this.#cols, this.#rows, this.#cfg.scrollbackLines, this.#cfg.mirrorBacklogBytes, {
      onDrain: () => this.#updateFlow(),
      onFailed: (err) => this.#onMirrorFailed(err),
      onDegraded: (error) => this.#onMirrorDegraded(error),
    });
    this.register(toDisposable(() => this.#mirror.dispose()));
    return m;
  }

  /**
   * The mirror's worker died (with every mirror in it). The old screen is lost: a fresh mirror
   * gets the output from here on. Viewers keep their socket: their screens are right (they got
   * every byte), and reconnecting would only give them the fresh mirror's blank one.
   */
  #onMirrorFailed(err: Error): void {
    if (this.isDisposed) return;
    this.#cfg.log.error({ err, id: this.id }, 'terminal mirror failed; starting a fresh one');
    this.#mirror = this.#openMirror();
    this.#markDegraded();
    this.#updateFlow();
  }

  /** xterm threw on this session's mirror; the worker rebuilt it (mirror-host.ts). Other sessions are untouched. */
  #onMirrorDegraded(error: string): void {
    if (this.isDisposed) return;
    // Once per session at warn: output that keeps making xterm throw must not flood the log.
    if (this.#degraded) this.#cfg.log.debug({ id: this.id, error }, 'terminal mirror rebuilt again');
    else this.#cfg.log.warn({ id: this.id, error }, 'terminal mirror rebuilt after an xterm error; snapshots may miss some output');
    this.#markDegraded();
  }

  #markDegraded(): void {
    if (this.#degraded) return;
    this.#degraded = true;
    for (const v of this.#viewers) v.sendMeta();
  }

  #onData(data: Buffer): void {
    if (this.isDisposed) return;
    this.#bytesOut += data.length;
    this.#mirror.write(data);
    // Thresholds from the loads before this output (flow-policy.ts).
    const fastest = fastestPacerLoad(this.#viewers);
    const ownerAt = behindAt(this.#marks, fastest, 'owner');
    const readOnlyAt = behindAt(this.#marks, fastest, 'read-only');
    for (const v of this.#viewers) v.output(data, v.role === 'owner' ? ownerAt : readOnlyAt);
    this.#updateFlow();
  }

  /**
   * Pause when every pacer (an owner's viewer that is not behind; read-only viewers never pace) is
   * over the high watermark, when a lagging viewer holds the PTY, or when the mirror's backlog is over
   * its bound; resume under the low marks (flow-policy.ts).
   */
  #updateFlow(): void {
    if (this.isDisposed) return;
    const now = this.#cfg.clock.now();
    const holders = this.#holders(now);
    let pause = false;
    let othersWait = false;
    if (!this.#draining && this.#state !== 'exited') {
      const mirrorOver = this.#mirror.backlogBytes > (this.#paused ? this.#cfg.mirrorBacklogBytes / 2 : this.#cfg.mirrorBacklogBytes);
      othersWait = mirrorOver || viewersHoldPty(this.#viewers, this.#marks, this.#paused);
      pause = othersWait || holders.size > 0;
    }
    // Only a pause that is for the lagging viewers alone spends their budget.
    const held = pause && !othersWait;
    this.#holdTimer?.dispose();
    this.#holdTimer = undefined;
    let wake = Infinity;
    for (const [v, b] of this.#holds) {
      b.setHolding(held && holders.has(v));
      if (b.holding) wake = Math.min(wake, holders.get(v)!);
    }
    if (held) this.#holdTimer = this.#cfg.clock.setTimeout(() => this.#updateFlow(), Math.ceil(wake) + 1);
    if (held && this.#heldSince === undefined) this.#heldSince = now;
    else if (!held && this.#heldSince !== undefined) {
      this.#heldMs += now - this.#heldSince;
      this.#heldSince = undefined;
    }
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) {
      this.#pauses++;
      if (this.#mirror.backlogBytes > this.#cfg.mirrorBacklogBytes) this.#mirrorPauses++;
      this.#pty.pause();
    } else this.#pty.resume();
  }

  /** Lagging owners' viewers that still have hold budget, with the budget left (ms); those without are marked behind. */
  #holders(now: number): Map<Viewer, number> {
    const out = new Map<Viewer, number>();
    // Marking a lagging viewer behind leaves the fastest pacer as it was: a lagging viewer is never the fastest.
    const fastest = fastestPacerLoad(this.#viewers);
    for (const [v, b] of this.#holds) {
      const left = b.left(now);
      if (!isLagging(v, fastest, this.#marks)) continue;
      if (left > 0) out.set(v, left);
      else v.markBehind();
    }
    return out;
  }

  /**
   * node-pty, when the child exits before the PTY reports EOF, destroys the PTY socket after 200 ms
   * (a macOS workaround) — which throws away whatever is still buffered if we paused it for flow
   * control: output lost at exit. While paused we take that destroy as "the child is gone": drain
   * the PTY to EOF instead, and hang up whatever still holds it open; a bounded timer still
   * destroys it if nothing ever lets go.
   */
  #guardExitFlush(): void {
    const sock = (this.#pty as unknown as { _socket?: PtySocket })._socket;
    if (!sock || typeof sock.destroy !== 'function') return;
    this.#ptySocket = sock;
    const real = sock.destroy.bind(sock);
    this.#realDestroy = real;
    sock.destroy = (...args: unknown[]) => {
      // An error destroy (EIO at the end of the stream) or an unpaused socket loses nothing: let it through.
      if (args.length > 0 || !this.#paused || this.#draining) return real(...args);
      this.#draining = true;
      this.#updateFlow();
      if (this.#state === 'running') this.#state = 'closing';
      this.#hangUp();
      return sock;
    };
    this.register(toDisposable(() => (sock.destroy = real)));
  }

  /** SIGHUP now, SIGKILL after the grace to whatever is left; then, if the PTY still has not ended, destroy its socket. */
  #hangUp(): Promise<void> {
    this.#reaping ??= (async () => {
      signalSession(this.pid, 'SIGHUP');
      const deadline = this.#cfg.clock.now() + this.#cfg.killGraceMs;
      while (this.#cfg.clock.now() < deadline && sessionMembers(this.pid).length > 0) await this.#sleep(REAP_POLL_MS);
      if (sessionMembers(this.pid).length > 0) signalSession(this.pid, 'SIGKILL');
      await this.#within(this.#exited, FORCE_DESTROY_AFTER_KILL_MS);
      // Something outside the session holds the PTY open: give up on its last bytes.
      if (!this.#hasExited()) this.#realDestroy?.();
    })();
    return this.#reaping;
  }

  #hasExited(): boolean {
    return this.#state === 'exited';
  }

  #sleep(ms: number): Promise<void> {
    // Not owned by the session: these waits belong to its teardown and must outlive dispose().
    return new Promise((resolve) => void this.#cfg.clock.setTimeout(resolve, ms));
  }

  /** Waits for `p`, at most `ms`; the timer is cancelled as soon as `p` settles. */
  async #within(p: Promise<unknown>, ms: number): Promise<void> {
    let timer: { dispose(): void } | undefined;
    const timeout = new Promise<void>((resolve) => (timer = this.#cfg.clock.setTimeout(resolve, ms)));
    try {
      await Promise.race([p.then(() => undefined, () => undefined), timeout]);
    } finally {
      timer?.dispose();
    }
  }

  async #onExit(info: ExitInfo): Promise<void> {
    if (this.#state === 'exited') return;
    // The output ended inside a character: what there is of it goes out as is.
    const rest = this.#utf8.flush();
    if (rest) this.#onData(rest);
    this.#state = 'exited';
    this.#exit = info;
    this.#updateFlow();
    // Every byte has been read (node-pty reports exit after the PTY socket closed); let each viewer catch up, bounded by the grace.
    const viewers = [...this.#viewers];
    this.#resolveExited();
    await this.#within(Promise.all(viewers.map((v) => v.finish(info))), Math.max(this.#cfg.killGraceMs, 1_000));
    for (const v of viewers) v.close(1000, 'terminal exited');
    for (const fn of this.#exitListeners) {
      try {
        fn(this, info);
      } catch (err) {
        this.#cfg.log.error({ err, id: this.id }, 'terminal exit listener failed');
      }
    }
    this.#exitListeners = [];
    // Background jobs the shell left behind would be orphans: hang them up too.
    await this.#hangUp();
    this.dispose();
    this.#resolveDone();
  }

  override dispose(): void {
    for (const v of [...this.#viewers]) v.dispose();
    super.dispose();
  }
}

/** The shell to run: the option, else $SHELL, else /bin/sh. */
export function resolveShell(option: string): string {
  return option || process.env.SHELL || '/bin/sh';
}

/** Default tab name: the command's first word, or the shell's name. */
export function defaultName(command: string | null, shell: string): string {
  if (command) return command.trim().split(/\s+/)[0]!.slice(0, 100) || 'terminal';
  return path.basename(shell) || 'terminal';
}

/**
 * Variables Keel reads secrets from, never passed to a terminal: the access token grants every
 * shell, and the model keys are billed to the user — a program in a shell (or a share-link viewer
 * watching `env` scroll by) must not read them from its environment.
 */
export const SECRET_ENV_VARS = ['KEEL_TOKEN', 'KEEL_AGENT_API_KEY', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'] as const;

/** The environment of a new terminal: Keel's, minus its secrets, with the terminal type set. */
export function terminalEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, TERM: 'xterm-256color', COLORTERM: 'truecolor' };
  for (const name of SECRET_ENV_VARS) delete env[name];
  return env;
}

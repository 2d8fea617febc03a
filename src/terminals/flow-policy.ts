/**
 * Who paces a terminal's PTY and when a viewer is "behind" (docs/protocol.md, flow control). Pure
 * rules over the viewers' loads and a per-viewer time budget, so they are tested without a PTY.
 *
 * - Pacers are the owners' viewers that are not behind. The PTY pauses when every pacer is over the
 *   high watermark and resumes when one is back under the low one. Read-only viewers never pace: a
 *   share link must not be able to stop the program (issue 10.5). With no owner attached nothing
 *   paces and the program runs at full speed; read-only viewers over the high watermark are behind
 *   (they get snapshots).
 * - Equally fast viewers do not acknowledge at the same instant: one process is scheduled late, one
 *   batches its acknowledgements, one link stalls for 100 ms. Measured with three rendering viewers on
 *   a busy 2-core machine, their unacknowledged counts drift apart by up to 4 high watermarks, so no
 *   byte margin alone tells "late" from "slow" (issue 11.4). The rule is therefore in bytes *and*
 *   time: an owner's viewer more than the behind margin past the fastest pacer is **lagging**; a
 *   lagging viewer holds the PTY (everyone waits for it, nothing is queued for it) while it has hold
 *   budget, and is behind once the budget is spent. The budget is a token bucket:
 *   HOLD_BUDGET_MS at most, refilled at HOLD_REFILL_PER_MS while the viewer is not holding. A viewer
 *   that is only late catches up within a few hundred ms and stays live with every byte; a viewer
 *   that is really slower spends its budget once and then costs the others at most
 *   HOLD_REFILL_PER_MS of their time (5 %).
 * - A read-only viewer never holds: more than the margin past the fastest pacer (or, with no owner
 *   live, over the high watermark) it is behind at once.
 * - Memory: a live viewer holds at most maxUnackedBytes() unacknowledged (in practice a lagging
 *   owner stops at the margin plus a read, since it holds the PTY from there).
 */

export interface FlowViewer {
  readonly role: 'owner' | 'read-only';
  readonly state: 'syncing' | 'live' | 'behind';
  /** Unacknowledged output plus output held while syncing. */
  readonly loadBytes: number;
}

export interface FlowMarks {
  highWatermarkBytes: number;
  lowWatermarkBytes: number;
  /** How far past the fastest pacer a viewer may be before it is lagging (behindMarginBytes()). */
  behindMarginBytes: number;
}

/** Most time one viewer may hold the PTY for the others in one go. */
export const HOLD_BUDGET_MS = 500;
/** Hold budget regained per ms a viewer does not hold: a slow viewer costs the others at most this share of their time. */
export const HOLD_REFILL_PER_MS = 0.05;

/**
 * The margin: one high watermark (the most an equally fast viewer has in flight when the PTY pauses)
 * plus one output frame (what it may be sent while its acknowledgement of the last one is on the way).
 */
export function behindMarginBytes(highWatermarkBytes: number, frameBytes: number): number {
  return highWatermarkBytes + frameBytes;
}

/** node-pty reads the PTY at most this much at a time: what one viewer can be sent past a threshold before the check. */
export const MAX_PTY_READ_BYTES = 64 * 1024;

/**
 * The most output a live viewer can have unacknowledged (the memory budget per viewer): the fastest
 * pacer is at most one read over the high watermark when the PTY pauses, an owner is behind at twice
 * the margin past it, and one more read may arrive before the check.
 */
export function maxUnackedBytes(highWatermarkBytes: number, frameBytes: number): number {
  return highWatermarkBytes + 2 * behindMarginBytes(highWatermarkBytes, frameBytes) + 2 * MAX_PTY_READ_BYTES;
}

function isPacer(v: FlowViewer): boolean {
  return v.role === 'owner' && v.state !== 'behind';
}

/** The load of the fastest live pacer (a syncing viewer's load says nothing about its speed), or undefined when none is live. */
export function fastestPacerLoad(viewers: Iterable<FlowViewer>): number | undefined {
  let min: number | undefined;
  for (const v of viewers) if (isPacer(v) && v.state === 'live' && (min === undefined || v.loadBytes < min)) min = v.loadBytes;
  return min;
}

/** An owner's live viewer more than the margin past the fastest pacer: it holds the PTY while it has budget. */
export function isLagging(v: FlowViewer, fastest: number | undefined, marks: FlowMarks): boolean {
  return v.role === 'owner' && v.state === 'live' && fastest !== undefined && v.loadBytes > fastest + marks.behindMarginBytes;
}

/**
 * Unacknowledged bytes at or past which a live viewer is marked behind when output arrives.
 * Read-only: the margin past the fastest pacer (the high watermark with no live pacer). Owner: twice
 * the margin, a bound on memory only — a lagging owner holds the PTY long before (isLagging), unless
 * the PTY is being drained after its process exited.
 */
export function behindAt(marks: FlowMarks, fastest: number | undefined, role: FlowViewer['role']): number {
  if (fastest === undefined) return marks.highWatermarkBytes;
  return Math.max(marks.highWatermarkBytes, fastest + (role === 'owner' ? 2 : 1) * marks.behindMarginBytes);
}

/**
 * Whether the pacers want the PTY paused: when running, once every pacer is at or over the high
 * watermark; when paused, while every pacer is over the low one. No pacer: never.
 */
export function viewersHoldPty(viewers: Iterable<FlowViewer>, marks: FlowMarks, paused: boolean): boolean {
  let pacers = 0;
  for (const v of viewers) {
    if (!isPacer(v)) continue;
    pacers++;
    if (paused ? v.loadBytes <= marks.lowWatermarkBytes : v.loadBytes < marks.highWatermarkBytes) return false;
  }
  return pacers > 0;
}

/** One viewer's budget for holding the PTY (a token bucket in ms, on the session's clock). */
export class HoldBudget {
  #left = HOLD_BUDGET_MS;
  #since: number;
  #holding = false;

  constructor(now: number) {
    this.#since = now;
  }

  /**
   * Budget left as of `now`: the time since the last call is spent if it was holding, refilled
   * otherwise. It goes below zero when a hold outlasts the budget (a late timer, a busy event loop):
   * that debt is repaid before the viewer may hold again, so the long-run share stays the refill rate.
   */
  left(now: number): number {
    const dt = Math.max(0, now - this.#since);
    this.#since = now;
    this.#left = this.#holding ? this.#left - dt : Math.min(HOLD_BUDGET_MS, this.#left + dt * HOLD_REFILL_PER_MS);
    return this.#left;
  }

  /** From now on the viewer is (or is not) holding the PTY. Call left(now) first so the past is accounted. */
  setHolding(holding: boolean): void {
    this.#holding = holding;
  }

  get holding(): boolean {
    return this.#holding;
  }
}

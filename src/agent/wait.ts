/**
 * terminal_wait: until the terminal's output has been quiet for `quietMs`, a pattern appears on its
 * screen, it exits, or `timeoutMs` passes — abortable at once through the turn's AbortSignal.
 *
 * The terminal manager has no output subscription, so this polls: the output byte counter (a field
 * read) every POLL_MS, and the screen text (a round trip to the mirror worker) at most every
 * SCREEN_POLL_MS and only after new output. Nothing is registered on the terminal, so nothing can
 * leak from it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import vm from 'node:vm';
import type { TerminalControl } from './terminal-control.ts';

export const POLL_MS = 50;
export const SCREEN_POLL_MS = 200;
/** Scrollback lines searched for a pattern besides the screen, so fast output does not scroll a match away. */
export const PATTERN_SCROLLBACK_LINES = 200;
/** Longest one pattern test may run: a pattern from the model must not stall the event loop (ReDoS). */
export const PATTERN_TIMEOUT_MS = 50;
/** Quiet period used when neither a pattern nor quietMs is given. */
export const DEFAULT_QUIET_MS = 1_000;

export type WaitReason = 'pattern' | 'quiet' | 'timeout' | 'exited';

export interface WaitResult {
  reason: WaitReason;
  elapsedMs: number;
  /** The matching line, for 'pattern'. */
  match?: string;
}

export interface WaitRequest {
  terminalId: string;
  pattern?: RegExp;
  quietMs?: number;
  timeoutMs: number;
}

/** Compiles a model-supplied pattern; throws with a message fit for the model. */
export function compilePattern(src: string): RegExp {
  try {
    return new RegExp(src, 'm');
  } catch (err) {
    throw new Error(`invalid pattern ${JSON.stringify(src)}: ${(err as Error).message}`);
  }
}

/** A pattern tester bounded in time (vm timeout interrupts a runaway regular expression). */
class PatternTester {
  readonly #ctx: vm.Context;
  readonly #script = new vm.Script('(() => { const m = re.exec(text); return m ? m[0] : null; })()');
  constructor(re: RegExp) {
    this.#ctx = vm.createContext({ re, text: '' });
  }
  /** The matching line, or null; throws when the pattern takes too long. */
  test(text: string): string | null {
    this.#ctx.text = text;
    let m: string | null;
    try {
      m = this.#script.runInContext(this.#ctx, { timeout: PATTERN_TIMEOUT_MS }) as string | null;
    } catch {
      throw new Error(`the pattern took more than ${PATTERN_TIMEOUT_MS} ms on the screen text (catastrophic backtracking?); use a simpler pattern`);
    } finally {
      this.#ctx.text = '';
    }
    if (m === null) return null;
    const i = text.indexOf(m);
    const start = text.lastIndexOf('\n', i) + 1;
    const end = text.indexOf('\n', i + m.length);
    return text.slice(start, end === -1 ? undefined : end).slice(0, 500);
  }
}

export async function waitForTerminal(ctrl: TerminalControl, req: WaitRequest, signal: AbortSignal): Promise<WaitResult> {
  const start = Date.now();
  const quietMs = req.quietMs ?? (req.pattern ? undefined : DEFAULT_QUIET_MS);
  const tester = req.pattern ? new PatternTester(req.pattern) : undefined;
  let count = ctrl.outputBytes(req.terminalId);
  if (count === undefined) return { reason: 'exited', elapsedMs: 0 };
  let lastChange = start;
  let screenDirty = true;
  let lastScreenAt = 0;
  for (;;) {
    signal.throwIfAborted();
    const now = Date.now();
    const c = ctrl.outputBytes(req.terminalId);
    if (c === undefined) return { reason: 'exited', elapsedMs: now - start };
    if (c !== count) {
      count = c;
      lastChange = now;
      screenDirty = true;
    }
    if (tester && screenDirty && now - lastScreenAt >= SCREEN_POLL_MS) {
      screenDirty = false;
      lastScreenAt = now;
      const text = await abortable(ctrl.screen(req.terminalId, PATTERN_SCROLLBACK_LINES), signal);
      const match = tester.test(text);
      if (match !== null) return { reason: 'pattern', elapsedMs: Date.now() - start, match };
    }
    if (quietMs !== undefined && now - lastChange >= quietMs) return { reason: 'quiet', elapsedMs: now - start };
    if (now - start >= req.timeoutMs) return { reason: 'timeout', elapsedMs: now - start };
    await sleep(POLL_MS, undefined, { signal });
  }
}

/** Resolves or rejects with `p`, or rejects at once when `signal` aborts (the late result is ignored). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

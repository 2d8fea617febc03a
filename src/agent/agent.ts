/**
 * The agent service (`ctx.services.agent`): one turn at a time per chat session, a bounded queue
 * of prompts behind it, cancel, and the state /stream shows.
 *
 * Per session, memory holds only a SessionRun while the session is busy: its AbortController, its
 * queued prompts (at most `agentQueueDepth`) and the terminals it touched. The run is deleted when
 * its last turn ends, so an idle session costs nothing here; everything else is in the event log.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { KeelOptions } from '../config/options.ts';
import type { Clock } from '../core/clock.ts';
import { KeelError, TooManyConnectionsError } from '../core/errors.ts';
import { toDisposable, type Disposable } from '../core/lifecycle.ts';
import type { Agent, AgentState } from './types.ts';
import { configHelp, missingSettings, modelLabel, type ModelConfig } from './settings.ts';
import type { TerminalControl } from './terminal-control.ts';
import type { AgentEventLog, TurnUsage } from './turn.ts';
import { BYTES_PER_TOKEN, estimateTokens } from './trim.ts';

/**
 * The turn loop, its tools and the model providers: the AI SDK, its providers and zod schemas
 * (~9 MB of RSS at rest, measured). Imported when a model is configured (in the background at
 * start) and awaited by the first turn, so a Keel without a model never loads them.
 */
async function loadRuntime() {
  const [turn, tools, provider] = await Promise.all([import('./turn.ts'), import('./tools.ts'), import('./provider.ts')]);
  return { ...turn, ...tools, createModel: provider.createModel };
}
type Runtime = Awaited<ReturnType<typeof loadRuntime>>;

export type AgentOptions = Pick<
  KeelOptions,
  | 'agentProvider'
  | 'agentBaseUrl'
  | 'agentApiKey'
  | 'agentModel'
  | 'agentContextTokens'
  | 'agentMaxSteps'
  | 'agentMaxToolResultBytes'
  | 'agentTurnTimeoutMs'
  | 'agentQueueDepth'
  | 'agentWaitMaxMs'
  | 'agentMaxConcurrentTurns'
>;

export const INSTRUCTIONS = `You are the assistant inside Keel, a web app that gives the user the terminals of their own machine. You work in those terminals with tools: terminal_list, terminal_create, terminal_read, terminal_write and terminal_wait. The user watches every terminal live and sees every tool call you make.

How to work:
- To run a command: terminal_write with its text and keys ["Enter"], then terminal_wait (for a pattern, or for the output to go quiet), then terminal_read.
- Reuse an open terminal when it fits; create one when you need a fresh shell. Stop a running program with the key "Ctrl+C".
- Read the screen before concluding anything; do not guess output.
- Ask before anything destructive or irreversible (deleting files, force-pushing, installing system packages).
- Be brief. Answer in Markdown. Say what you did and what you found.`;

/** Why a turn's AbortController fired. */
export class TurnCancelled extends Error {
  constructor() {
    super('cancelled by the user');
    this.name = 'TurnCancelled';
  }
}
export class TurnTimedOut extends Error {
  constructor(ms: number) {
    super(`the turn took longer than ${ms} ms (--agent-turn-timeout-ms)`);
    this.name = 'TurnTimedOut';
  }
}
class AgentShuttingDown extends Error {
  constructor() {
    super('Keel is shutting down');
    this.name = 'AgentShuttingDown';
  }
}

interface SessionRun {
  controller: AbortController;
  queue: string[];
  terminals: Set<string>;
  /** Settles when the session's last queued turn has ended. */
  done: Promise<void>;
}

export interface AgentServiceDeps {
  options: AgentOptions;
  clock: Clock;
  log: Logger;
  /** Read at use time: the event log and the terminals are other subsystems' services. */
  events: () => AgentEventLog | undefined;
  terminals: () => TerminalControl | undefined;
  /** Called whenever busy sessions, queues or held terminals change (the /stream `state` event). */
  onStateChange?: () => void;
  /** Overrides the model built from the options (tests). null: not configured. */
  model?: ModelConfig | null;
  env?: NodeJS.ProcessEnv;
  /** Retries of a failed model call (default MODEL_RETRIES; tests use 0 to skip the backoff). */
  modelRetries?: number;
}

export class AgentService implements Agent, Disposable {
  readonly #o: AgentOptions;
  readonly #deps: AgentServiceDeps;
  readonly #log: Logger;
  /** Whether a model is configured (from the options, or the test's stand-in). */
  readonly #configured: boolean;
  readonly #label: string | null;
  /** Built by the first turn (the providers load with the runtime), or given by a test. */
  #model: ModelConfig | undefined;
  #runtime: Promise<Runtime> | undefined;
  readonly #runs = new Map<string, SessionRun>();
  readonly #stateListeners = new Set<() => void>();
  #disposed = false;
  // Counters since start (numbers only: they never hold anything).
  #turnsTotal = 0;
  #finished = 0;
  #cancelled = 0;
  #failed = 0;
  #refusedBusy = 0;
  #queuedTotal = 0;

  constructor(deps: AgentServiceDeps) {
    this.#deps = deps;
    this.#o = deps.options;
    this.#log = deps.log;
    if (deps.model !== undefined) {
      this.#configured = deps.model !== null;
      this.#model = deps.model ?? undefined;
      this.#label = deps.model?.label ?? null;
    } else {
      this.#configured = missingSettings(deps.options).length === 0;
      this.#label = this.#configured ? modelLabel(deps.options) : null;
    }
    if (this.#configured) {
      // Loaded now, so the first prompt does not wait for it; a failure is logged and retried by the turn.
      this.#runtime = loadRuntime();
      this.#runtime.catch((err) => {
        this.#runtime = undefined;
        this.#log.error({ err }, 'loading the agent runtime failed');
      });
    }
  }

  isConfigured(): boolean {
    return this.#configured;
  }

  configHelp(): string {
    return configHelp(this.#o);
  }

  get modelLabel(): string | null {
    return this.#label;
  }

  isBusy(sessionId: string): boolean {
    return this.#runs.has(sessionId);
  }

  /** Prompts waiting behind the running turn of a session. */
  queued(sessionId: string): number {
    return this.#runs.get(sessionId)?.queue.length ?? 0;
  }

  startTurn(sessionId: string, content: string): 'started' | 'queued' | 'busy' {
    if (this.#disposed) throw new KeelError(503, 'shutting_down', 'Keel is shutting down; try again after it restarts.');
    if (!this.#configured) throw new KeelError(503, 'agent_not_configured', this.configHelp());
    const existing = this.#runs.get(sessionId);
    if (existing) {
      if (existing.queue.length >= this.#o.agentQueueDepth) {
        this.#refusedBusy++;
        return 'busy';
      }
      existing.queue.push(content);
      this.#queuedTotal++;
      this.#notify();
      return 'queued';
    }
    if (this.#runs.size >= this.#o.agentMaxConcurrentTurns) throw new TooManyConnectionsError('agent_turns', this.#o.agentMaxConcurrentTurns, '--agent-max-concurrent-turns');
    const events = this.#deps.events();
    if (!events) throw new KeelError(503, 'event_log_unavailable', 'The event log is not available; the agent cannot record a turn.');
    // Recorded before answering, so the caller's next read of the session shows the prompt.
    events.append(sessionId, { type: 'user_message', text: content });
    const run: SessionRun = { controller: new AbortController(), queue: [], terminals: new Set(), done: Promise.resolve() };
    this.#runs.set(sessionId, run);
    run.done = this.#drive(sessionId, run, events);
    this.#notify();
    return 'started';
  }

  cancel(sessionId: string): boolean {
    const run = this.#runs.get(sessionId);
    if (!run) return false;
    run.queue.length = 0;
    if (!run.controller.signal.aborted) run.controller.abort(new TurnCancelled());
    this.#notify();
    return true;
  }

  state(): AgentState {
    const terminals: Record<string, string[]> = {};
    for (const [id, run] of this.#runs) if (run.terminals.size) terminals[id] = [...run.terminals];
    return { busySessions: [...this.#runs.keys()], model: this.modelLabel, configured: this.isConfigured(), terminals };
  }

  /** Listens for state changes (busy sessions, queues, held terminals); dispose to stop. */
  onStateChange(fn: () => void): Disposable {
    this.#stateListeners.add(fn);
    return toDisposable(() => this.#stateListeners.delete(fn));
  }

  stats(): Record<string, number | string | boolean> {
    let queued = 0;
    for (const r of this.#runs.values()) queued += r.queue.length;
    return {
      configured: this.isConfigured(),
      model: this.modelLabel ?? '',
      busy_sessions: this.#runs.size,
      max_concurrent_turns: this.#o.agentMaxConcurrentTurns,
      queued_prompts: queued,
      turns_total: this.#turnsTotal,
      turns_finished: this.#finished,
      turns_cancelled: this.#cancelled,
      turns_failed: this.#failed,
      prompts_queued_total: this.#queuedTotal,
      prompts_refused_busy: this.#refusedBusy,
    };
  }

  /** Worst case from the limits, in bytes (see docs/agent.md). */
  budgetBytes(maxPromptBytes: number): number {
    const o = this.#o;
    const context = o.agentContextTokens * BYTES_PER_TOKEN;
    // Per running turn: the conversation while loading (up to 2 budgets) and trimmed (1), the request
    // body built from it (1), one page of history events and the tool result being recorded.
    const perTurn = 4 * context + 100 * Math.max(o.agentMaxToolResultBytes, 2 * 1024) + 2 * o.agentMaxToolResultBytes + 64 * 1024;
    return o.agentMaxConcurrentTurns * (perTurn + o.agentQueueDepth * maxPromptBytes);
  }

  /** Cancels every turn and waits (bounded by the caller) until each has recorded its end. */
  async shutdown(): Promise<void> {
    const runs = [...this.#runs.values()];
    for (const r of runs) {
      r.queue.length = 0;
      if (!r.controller.signal.aborted) r.controller.abort(new AgentShuttingDown());
    }
    await Promise.allSettled(runs.map((r) => r.done));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const r of this.#runs.values()) {
      r.queue.length = 0;
      if (!r.controller.signal.aborted) r.controller.abort(new AgentShuttingDown());
    }
    this.#stateListeners.clear();
  }

  #notify(): void {
    for (const fn of this.#stateListeners) {
      try {
        fn();
      } catch (err) {
        this.#log.error({ err }, 'agent state listener failed');
      }
    }
    try {
      this.#deps.onStateChange?.();
    } catch (err) {
      this.#log.error({ err }, 'agent state publication failed');
    }
  }

  /** Runs the session's turns: the one started, then each queued prompt, until the queue is empty. */
  async #drive(sessionId: string, run: SessionRun, events: AgentEventLog): Promise<void> {
    try {
      for (;;) {
        await this.#turn(sessionId, run, events);
        const next = run.queue.shift();
        if (next === undefined || this.#disposed) break;
        run.controller = new AbortController();
        run.terminals.clear();
        try {
          events.append(sessionId, { type: 'user_message', text: next });
        } catch (err) {
          this.#log.warn({ err, sessionId }, 'queued prompt could not be recorded; dropping the queue');
          break;
        }
        this.#notify();
      }
    } finally {
      this.#runs.delete(sessionId);
      this.#notify();
    }
  }

  async #turn(sessionId: string, run: SessionRun, events: AgentEventLog): Promise<void> {
    const label = this.#label!;
    const o = this.#o;
    const signal = run.controller.signal;
    this.#turnsTotal++;
    const timer = this.#deps.clock.setTimeout(() => run.controller.abort(new TurnTimedOut(o.agentTurnTimeoutMs)), o.agentTurnTimeoutMs);
    const record = (payload: Parameters<AgentEventLog['append']>[1]) => {
      try {
        events.append(sessionId, payload);
      } catch (err) {
        // The session was deleted meanwhile, or Keel is shutting down: nothing left to record into.
        this.#log.debug({ err, sessionId }, 'agent event not recorded');
      }
    };
    let usage: TurnUsage = {};
    try {
      record({ type: 'turn', state: 'started', model: label });
      const rt = await (this.#runtime ??= loadRuntime());
      const { terminalTools, toolDefinitionsChars, sdkToolSet, runTurn, MODEL_RETRIES } = rt;
      const model = (this.#model ??= rt.createModel(o, this.#deps.env) ?? undefined);
      if (!model) throw new KeelError(503, 'agent_not_configured', this.configHelp());
      const ctrl = this.#deps.terminals();
      if (!ctrl) throw new KeelError(503, 'terminals_unavailable', 'The terminals subsystem is not available.');
      const tools = terminalTools(ctrl);
      const overhead = estimateTokens(INSTRUCTIONS) + Math.ceil(toolDefinitionsChars(tools) / BYTES_PER_TOKEN);
      const result = await runTurn({
        sessionId,
        model,
        events,
        tools,
        sdkTools: sdkToolSet(tools),
        instructions: INSTRUCTIONS,
        budgetTokens: Math.max(1_000, o.agentContextTokens - overhead),
        maxSteps: o.agentMaxSteps,
        modelRetries: this.#deps.modelRetries ?? MODEL_RETRIES,
        maxToolResultBytes: o.agentMaxToolResultBytes,
        waitMaxMs: o.agentWaitMaxMs,
        clock: this.#deps.clock,
        signal,
        onTerminal: (id) => {
          if (run.terminals.has(id)) return;
          run.terminals.add(id);
          this.#notify();
        },
        newId: () => 'm_' + crypto.randomBytes(9).toString('base64url'),
      });
      usage = result.usage;
      this.#finished++;
      record({ type: 'turn', state: 'finished', model: label, usage, ...(result.stepLimit ? { reason: 'step_limit' } : {}) });
    } catch (err) {
      const reason = signal.aborted ? signal.reason : undefined;
      if (reason instanceof TurnCancelled || reason instanceof AgentShuttingDown) {
        this.#cancelled++;
        record({ type: 'turn', state: 'cancelled', model: label, usage, reason: reason.message });
      } else {
        this.#failed++;
        const e = describeError(reason instanceof TurnTimedOut ? reason : err);
        if (e.code === 'agent_error') this.#log.error({ err, sessionId }, 'agent turn failed');
        record({ type: 'error', code: e.code, message: e.message });
        record({ type: 'turn', state: 'failed', model: label, usage, reason: e.code });
      }
    } finally {
      timer.dispose();
    }
  }
}

/** A stable code and a message the user can act on, for the `error` event. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof TurnTimedOut) return { code: 'turn_timeout', message: `The turn was stopped: ${err.message}. The session is usable; ask again, perhaps in smaller steps.` };
  if (err instanceof KeelError) return { code: err.code, message: err.message };
  const e = err as { name?: string; message?: string; statusCode?: number; responseBody?: string; cause?: unknown; lastError?: unknown; errors?: unknown[] };
  if (e?.name === 'AI_RetryError' && e.lastError) return describeError(e.lastError);
  if (e?.name === 'AI_APICallError' || typeof e?.statusCode === 'number') {
    const status = e.statusCode;
    if (status === undefined) {
      const cause = (e.cause as { code?: string; message?: string } | undefined) ?? undefined;
      return { code: 'model_unreachable', message: `The model API could not be reached (${cause?.code ?? cause?.message ?? e.message}). Check --agent-base-url and that the model server is running.` };
    }
    const hint = status === 401 || status === 403 ? ' Check the API key (--agent-api-key or OPENAI_API_KEY / ANTHROPIC_API_KEY).' : status === 404 ? ' Check --agent-model and --agent-base-url.' : status === 429 ? ' The provider is rate limiting; try again later.' : '';
    return { code: 'model_error', message: `The model API answered ${status}: ${clip(e.message ?? '')}.${hint}` };
  }
  if (e?.name === 'TypeError' && /fetch failed/i.test(e.message ?? '')) {
    return { code: 'model_unreachable', message: `The model API could not be reached (${clip(String((e.cause as Error | undefined)?.message ?? e.message))}). Check --agent-base-url and that the model server is running.` };
  }
  return { code: 'agent_error', message: `The turn failed: ${clip(e?.message ?? String(err))}` };
}

function clip(s: string): string {
  return s.length > 500 ? s.slice(0, 500) + '…' : s;
}

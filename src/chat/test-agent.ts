/**
 * A scripted stand-in for the agent (tests, leak scenarios): it implements the Agent contract of
 * src/agent/types.ts and appends a fixed turn to the event log, so chat and /stream are tested without
 * a model. Register it with `createKeel(opts, { subsystems: [scriptedAgentSubsystem(agent)] })`.
 *
 * A turn: user_message, turn started, then — at once, or when the test calls `finish` (hold mode) —
 * `deltas` assistant_delta chunks, assistant_done, a tool call with its result, turn finished.
 */
import type { Agent, AgentState } from '../agent/types.ts';
import type { KeelContext, Subsystem } from '../context.ts';
import type { EventLogService } from '../stream/routes.ts';

export class ScriptedAgent implements Agent {
  configured = true;
  /** Keep turns running until `finish` or `cancel`. */
  hold = false;
  /** Prompts queued per session while a turn is held (then 'busy'). */
  queueDepth = 0;
  /** Assistant chunks per turn. */
  deltas = 3;
  #log: (() => EventLogService | undefined) | undefined;
  readonly #running = new Map<string, { prompt: string; queued: string[] }>();
  #turns = 0;

  attach(log: () => EventLogService | undefined): void {
    this.#log = log;
  }

  isConfigured(): boolean {
    return this.configured;
  }
  configHelp(): string {
    return this.configured ? 'The scripted test agent is configured.' : 'Scripted agent: not configured (set --agent-provider).';
  }
  isBusy(sessionId: string): boolean {
    return this.#running.has(sessionId);
  }
  state(): AgentState {
    return { busySessions: [...this.#running.keys()], model: this.configured ? 'scripted' : null, configured: this.configured, terminals: {} };
  }

  startTurn(sessionId: string, content: string): 'started' | 'queued' | 'busy' {
    const run = this.#running.get(sessionId);
    if (run) {
      if (run.queued.length >= this.queueDepth) return 'busy';
      run.queued.push(content);
      return 'queued';
    }
    this.#begin(sessionId, content);
    return 'started';
  }

  #begin(sessionId: string, content: string): void {
    const log = this.#events();
    log.append(sessionId, { type: 'user_message', text: content });
    this.#running.set(sessionId, { prompt: content, queued: [] });
    log.append(sessionId, { type: 'turn', state: 'started', model: 'scripted' });
    if (!this.hold) this.finish(sessionId);
  }

  /** Completes the running turn of a session with a scripted answer; then starts the next queued prompt. */
  finish(sessionId: string): void {
    const run = this.#running.get(sessionId);
    if (!run) throw new Error(`no turn running in ${sessionId}`);
    const log = this.#events();
    const n = ++this.#turns;
    const messageId = `m${n}`;
    const answer = `answer to: ${run.prompt}`;
    const step = Math.max(1, Math.ceil(answer.length / this.deltas));
    for (let i = 0; i < answer.length; i += step) log.append(sessionId, { type: 'assistant_delta', messageId, text: answer.slice(i, i + step) });
    log.append(sessionId, { type: 'assistant_done', messageId, chars: answer.length });
    log.append(sessionId, { type: 'tool_call', callId: `c${n}`, name: 'terminal_list', args: { n } });
    log.append(sessionId, { type: 'tool_result', callId: `c${n}`, name: 'terminal_list', result: '[]', truncated: false, isError: false });
    this.#running.delete(sessionId);
    log.append(sessionId, { type: 'turn', state: 'finished', model: 'scripted', usage: { inputTokens: 10, outputTokens: answer.length } });
    const next = run.queued.shift();
    if (next !== undefined) {
      this.#begin(sessionId, next);
      const r = this.#running.get(sessionId);
      if (r) r.queued.push(...run.queued);
    }
  }

  cancel(sessionId: string): boolean {
    if (!this.#running.delete(sessionId)) return false;
    this.#events().append(sessionId, { type: 'turn', state: 'cancelled', reason: 'cancelled by the user' });
    return true;
  }

  #events(): EventLogService {
    const log = this.#log?.();
    if (!log) throw new Error('ScriptedAgent: no event log (attach it with scriptedAgentSubsystem)');
    return log;
  }
}

/** A subsystem that installs `agent` as ctx.services.agent (replacing the real one, if any). */
export function scriptedAgentSubsystem(agent: ScriptedAgent): Subsystem {
  return (_app, ctx: KeelContext) => {
    agent.attach(() => ctx.services.eventLog);
    (ctx.services as { agent?: Agent }).agent = agent;
  };
}

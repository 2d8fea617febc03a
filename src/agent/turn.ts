/**
 * One agent turn: load the session's history from the event log, trim it to the budget, and call
 * the model step by step — streaming its text as coalesced deltas, running its tool calls one at a
 * time — recording every event as it happens. Resolves with the usage when the model answers
 * without tool calls (or the step limit is reached); rejects with the signal's reason when the
 * turn is aborted (cancel, timeout) and with the model's error when it fails.
 *
 * Everything the turn holds (the conversation, the stream, the coalescer's timer) is local to this
 * call and released when it returns.
 */
import { streamText, ToolChoiceViolationError, type LanguageModelUsage, type ToolSet } from 'ai';
import type { Clock } from '../core/clock.ts';
import type { AgentEventPayload, StoredEvent } from '../stream/events.ts';
import { DeltaCoalescer } from './coalesce.ts';
import { HistoryBuilder, toModelMessages } from './history.ts';
import type { ModelConfig } from './provider.ts';
import { boundResult, runTool, type ToolOutcome, type terminalTools } from './tools.ts';
import { argsText, conversationTokens, trimConversation } from './trim.ts';

/** What the agent needs from the event log (src/stream/event-log.ts implements it). */
export interface AgentEventLog {
  append(sessionId: string, payload: AgentEventPayload): StoredEvent;
  read(opts: { after: number; sessionId?: string; limit?: number }): StoredEvent[];
}

/** Events read per page when loading a session's history (each event is itself bounded). */
export const HISTORY_PAGE_EVENTS = 100;
/** While loading, the conversation is trimmed whenever it grows past this many budgets. */
const LOAD_TRIM_FACTOR = 2;
/** Retries of a failed model call (429, 5xx, network), with the AI SDK's exponential backoff. */
export const MODEL_RETRIES = 2;
const CANCELLED_RESULT = 'Cancelled: the turn ended before this tool call finished.';

export interface TurnParams {
  sessionId: string;
  model: ModelConfig;
  events: AgentEventLog;
  tools: ReturnType<typeof terminalTools>;
  sdkTools: ToolSet;
  instructions: string;
  /** Token budget for the conversation (instructions and tool definitions already subtracted). */
  budgetTokens: number;
  maxSteps: number;
  modelRetries: number;
  maxToolResultBytes: number;
  waitMaxMs: number;
  clock: Clock;
  signal: AbortSignal;
  /** A tool acted in this terminal (the /stream state shows which terminals the agent holds). */
  onTerminal(id: string): void;
  newId(): string;
}

export interface TurnUsage {
  inputTokens?: number;
  outputTokens?: number;
}

export interface TurnResult {
  usage: TurnUsage;
  /** The model still wanted tools at the step limit (it ignored tool_choice "none"). */
  stepLimit: boolean;
}

/** Reads a session's events page by page into a conversation, trimming as it goes so memory stays near the budget. */
export function loadConversation(events: AgentEventLog, sessionId: string, budgetTokens: number): HistoryBuilder {
  const builder = new HistoryBuilder();
  let after = 0;
  for (;;) {
    const page = events.read({ after, sessionId, limit: HISTORY_PAGE_EVENTS });
    for (const e of page) {
      // Only at a turn boundary: mid-step, a call's result may still be in the next page.
      if (e.payload.type === 'user_message' && conversationTokens(builder.messages()) > LOAD_TRIM_FACTOR * budgetTokens) {
        builder.replace(trimConversation(builder.messages(), budgetTokens).messages);
      }
      builder.add(e.payload, 'e' + e.seq);
      after = e.seq;
    }
    if (page.length < HISTORY_PAGE_EVENTS) return builder;
  }
}

interface PendingCall {
  callId: string;
  name: string;
  args: unknown;
  invalid: boolean;
  error: unknown;
  answered: boolean;
  terminalId?: string;
}

export async function runTurn(p: TurnParams): Promise<TurnResult> {
  const { signal } = p;
  const usage = { inputTokens: 0, outputTokens: 0, seen: false };
  let stepLimit = false;
  const builder = loadConversation(p.events, p.sessionId, p.budgetTokens);
  const emit = (payload: AgentEventPayload) => {
    const e = p.events.append(p.sessionId, payload);
    builder.add(payload, 'e' + e.seq);
  };

  for (let step = 1; step <= p.maxSteps; step++) {
    signal.throwIfAborted();
    const trimmed = trimConversation(builder.messages(), p.budgetTokens);
    // The turn keeps only what the model sees: a long turn does not grow past the budget.
    builder.replace(trimmed.messages);
    const lastStep = step === p.maxSteps;

    const calls: PendingCall[] = [];
    let segment: { messageId: string; coalescer: DeltaCoalescer } | undefined;
    const closeSegment = () => {
      if (!segment) return;
      const s = segment;
      segment = undefined;
      s.coalescer.dispose();
      if (s.coalescer.chars > 0) emit({ type: 'assistant_done', messageId: s.messageId, chars: s.coalescer.chars });
    };
    let failure: unknown;
    try {
      const result = streamText({
        model: p.model.model,
        instructions: p.instructions,
        messages: toModelMessages(trimmed.messages),
        tools: p.sdkTools,
        // At the step limit the model must answer in words.
        toolChoice: lastStep ? 'none' : 'auto',
        abortSignal: signal,
        maxRetries: p.modelRetries,
        // Errors arrive as 'error' parts below; the default handler would print them to stderr.
        onError: () => {},
      });
      for await (const part of result.stream) {
        if (part.type === 'text-delta') {
          if (!part.text) continue;
          if (!segment) {
            const messageId = p.newId();
            segment = { messageId, coalescer: new DeltaCoalescer((text) => emit({ type: 'assistant_delta', messageId, text }), p.clock) };
          }
          segment.coalescer.push(part.text);
        } else if (part.type === 'tool-call') {
          closeSegment();
          const call: PendingCall = { callId: part.toolCallId, name: part.toolName, args: part.input, invalid: !!part.invalid, error: part.invalid ? part.error : undefined, answered: false };
          const tid = terminalIdOf(part.input);
          if (tid) call.terminalId = tid;
          calls.push(call);
          emit({ type: 'tool_call', callId: call.callId, name: call.name, args: boundArgs(call.args, p.maxToolResultBytes), ...(tid ? { terminalId: tid } : {}) });
        } else if (part.type === 'finish-step') {
          addUsage(usage, part.usage);
        } else if (part.type === 'error') {
          failure ??= part.error;
        }
      }
    } finally {
      closeSegment();
    }

    try {
      signal.throwIfAborted();
      if (failure !== undefined) {
        // Some servers ignore tool_choice "none": at the step limit that ends the turn, not fails it.
        if (!(lastStep && ToolChoiceViolationError.isInstance(failure))) throw failure;
        stepLimit = true;
        emit({ type: 'error', code: 'step_limit', message: `The model still wanted to use tools after ${p.maxSteps} steps (--agent-max-steps); the turn was ended. Ask it to continue.` });
      }
      if (!calls.length) break;
      for (const call of calls) {
        signal.throwIfAborted();
        let outcome: ToolOutcome;
        if (call.invalid) outcome = { text: invalidCallMessage(call), isError: true };
        else if (lastStep) outcome = { text: 'Not run: the step limit of this turn was reached.', isError: true };
        else outcome = await runTool(p.tools, call.name, call.args, { signal, waitMaxMs: p.waitMaxMs });
        signal.throwIfAborted();
        const tid = outcome.terminalId ?? call.terminalId;
        if (tid) p.onTerminal(tid);
        const bounded = boundResult(outcome.text, p.maxToolResultBytes, outcome.keep);
        call.answered = true;
        emit({ type: 'tool_result', callId: call.callId, name: call.name, result: bounded.text, truncated: bounded.truncated, isError: outcome.isError, ...(tid ? { terminalId: tid } : {}) });
      }
    } finally {
      // Every recorded call gets a result, so no browser shows a call running forever.
      for (const call of calls) {
        if (call.answered) continue;
        call.answered = true;
        try {
          emit({ type: 'tool_result', callId: call.callId, name: call.name, result: CANCELLED_RESULT, truncated: false, isError: true, ...(call.terminalId ? { terminalId: call.terminalId } : {}) });
        } catch {
          // The log refused (session deleted, shutting down): nobody is left to show it to.
        }
      }
    }
    if (lastStep) break;
  }
  return { usage: usage.seen ? { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens } : {}, stepLimit };
}

function addUsage(acc: { inputTokens: number; outputTokens: number; seen: boolean }, u: LanguageModelUsage | undefined): void {
  if (!u) return;
  acc.seen = true;
  acc.inputTokens += u.inputTokens ?? 0;
  acc.outputTokens += u.outputTokens ?? 0;
}

function terminalIdOf(input: unknown): string | undefined {
  const t = input && typeof input === 'object' ? (input as { terminalId?: unknown }).terminalId : undefined;
  return typeof t === 'string' && t.length <= 64 ? t : undefined;
}

/** Arguments as recorded: what the model sent, or a cut-down copy when it is over the bound. */
function boundArgs(args: unknown, maxBytes: number): unknown {
  const s = argsText(args);
  if (Buffer.byteLength(s) <= maxBytes) return args;
  return { truncated_arguments: boundResult(s, maxBytes).text };
}

function invalidCallMessage(call: PendingCall): string {
  const err = call.error as { name?: string; message?: string } | undefined;
  const detail = (err?.message ?? String(err ?? 'invalid')).slice(0, 2_000);
  if (err?.name === 'AI_NoSuchToolError') return `Error: there is no tool "${call.name}". ${detail}`;
  return `Error: invalid arguments for ${call.name}: ${detail}\nThe call was not run. Call it again with arguments that match its schema.`;
}

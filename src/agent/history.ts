/**
 * Rebuilds the model conversation from a chat session's events (the log is the only history: the
 * agent keeps nothing between turns), and turns it into the AI SDK's message shape.
 *
 * Within a turn the events of one model step come in this order: text (`assistant_delta`), then
 * its `tool_call`s, then their `tool_result`s. A text or call that follows a result therefore
 * starts the next step. A call left without a result (the turn was cancelled or failed while it
 * ran) is answered with an error result, as every provider requires.
 */
import type { ModelMessage } from 'ai';
import type { AgentEventPayload } from '../stream/events.ts';
import type { ChatMessage, ToolCallItem, ToolResultItem } from './trim.ts';

export const UNANSWERED_CALL = 'No result: the turn ended (cancelled, failed or timed out) before this tool call finished.';

export class HistoryBuilder {
  readonly #out: ChatMessage[];
  #text: string[] = [];
  #calls: ToolCallItem[] = [];
  #results: ToolResultItem[] = [];
  #id: string | undefined;

  constructor(initial: ChatMessage[] = []) {
    this.#out = initial;
  }

  /** Adds one event; `id` (e.g. the event's sequence number) identifies the message it starts. */
  add(p: AgentEventPayload, id?: string): void {
    switch (p.type) {
      case 'user_message':
        this.#flush();
        this.#out.push({ role: 'user', text: p.text, ...(id ? { id } : {}) });
        break;
      case 'assistant_delta':
        if (this.#results.length) this.#flush();
        this.#id ??= id;
        this.#text.push(p.text);
        break;
      case 'tool_call':
        if (this.#results.length) this.#flush();
        this.#id ??= id;
        this.#calls.push({ id: p.callId, name: p.name, args: p.args });
        break;
      case 'tool_result':
        if (this.#calls.some((c) => c.id === p.callId) && !this.#results.some((r) => r.id === p.callId)) {
          this.#results.push({ id: p.callId, name: p.name, output: p.result, isError: p.isError });
        }
        break;
      case 'turn':
        if (p.state !== 'started') this.#flush();
        break;
      case 'assistant_done':
      case 'error':
        break;
    }
  }

  /** The conversation so far (the builder keeps going after this). */
  messages(): ChatMessage[] {
    this.#flush();
    return this.#out;
  }

  /** Replaces the conversation (with its trimmed form, so a long turn does not hold what the model no longer sees). */
  replace(ms: ChatMessage[]): void {
    this.#flush();
    this.#out.length = 0;
    this.#out.push(...ms);
  }

  #flush(): void {
    const text = this.#text.join('');
    if (text || this.#calls.length) {
      this.#out.push({ role: 'assistant', text, toolCalls: this.#calls, ...(this.#id ? { id: this.#id } : {}) });
      if (this.#calls.length) {
        const results = this.#calls.map((c) => this.#results.find((r) => r.id === c.id) ?? { id: c.id, name: c.name, output: UNANSWERED_CALL, isError: true });
        this.#out.push({ role: 'tool', results, ...(this.#id ? { id: this.#id + 'r' } : {}) });
      }
    }
    this.#text = [];
    this.#calls = [];
    this.#results = [];
    this.#id = undefined;
  }
}

/** Tool-call arguments as the providers need them: an object (Anthropic rejects anything else). */
function callInput(args: unknown): Record<string, unknown> {
  if (args && typeof args === 'object' && !Array.isArray(args)) return args as Record<string, unknown>;
  return { invalid_arguments: typeof args === 'string' ? args : JSON.stringify(args) ?? null };
}

export function toModelMessages(ms: readonly ChatMessage[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  for (const m of ms) {
    if (m.role === 'user') out.push({ role: 'user', content: m.text });
    else if (m.role === 'assistant') {
      const content: Exclude<Extract<ModelMessage, { role: 'assistant' }>['content'], string> = [];
      if (m.text) content.push({ type: 'text', text: m.text });
      for (const c of m.toolCalls) content.push({ type: 'tool-call', toolCallId: c.id, toolName: c.name, input: callInput(c.args) });
      out.push({ role: 'assistant', content });
    } else {
      out.push({
        role: 'tool',
        content: m.results.map((r) => ({ type: 'tool-result' as const, toolCallId: r.id, toolName: r.name, output: r.isError ? { type: 'error-text' as const, value: r.output } : { type: 'text' as const, value: r.output } })),
      });
    }
  }
  return out;
}

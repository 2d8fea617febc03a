/** The chat API and /stream shapes as the browser reads them (docs/stream.md, src/stream/events.ts). */
export interface ChatSessionInfo {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
  busy: boolean;
}

export type AgentEventPayload =
  | { type: 'user_message'; text: string }
  | { type: 'assistant_delta'; messageId: string; text: string }
  | { type: 'assistant_done'; messageId: string; chars: number }
  | { type: 'tool_call'; callId: string; name: string; args: unknown; terminalId?: string }
  | { type: 'tool_result'; callId: string; name: string; result: string; truncated: boolean; isError: boolean; terminalId?: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'turn'; state: 'started' | 'finished' | 'cancelled' | 'failed'; model?: string; usage?: { inputTokens?: number; outputTokens?: number }; reason?: string };

export interface StoredEvent {
  seq: number;
  sessionId: string;
  at: number;
  payload: AgentEventPayload;
}

export interface AgentState {
  busySessions: string[];
  model: string | null;
  configured: boolean;
  /** Terminal ids the agent is acting in now, by chat session. */
  terminals: Record<string, string[]>;
}

interface Base {
  id: number;
  at: string;
}
export type ChatMessage =
  | (Base & { kind: 'user'; text: string })
  | (Base & { kind: 'assistant'; messageId: string; text: string; done: boolean })
  | (Base & { kind: 'tool'; callId: string; name: string; args: unknown; terminalId?: string; result?: { text: string; truncated: boolean; isError: boolean } })
  | (Base & { kind: 'error'; code: string; message: string })
  | (Base & { kind: 'turn'; state: 'cancelled' | 'failed'; reason?: string });

export interface MessagesPage {
  messages: ChatMessage[];
  nextBefore: number | null;
}

/**
 * Where to resume /stream after loading the newest page: just before the first message that can
 * still change (an assistant message not done, a tool call without its result), else before the
 * last message. Messages at or before the returned seq are complete and get no more events; the
 * ones after it are dropped and rebuilt from the replay, so no chunk is shown twice.
 */
export function resumePoint(messages: ChatMessage[]): number {
  if (messages.length === 0) return 0;
  const open = messages.find((m) => (m.kind === 'assistant' && !m.done) || (m.kind === 'tool' && !m.result));
  return (open ?? messages[messages.length - 1]!).id - 1;
}

/**
 * The agent events that go through the event log and /stream. Shared contract between the
 * agent (which appends), the chat API (which reads messages back) and the browser (which renders).
 *
 * Assistant text is stored once: as the `assistant_delta` chunks in order (each chunk once,
 * coalesced and bounded in size), never as a growing concatenation of partial copies. The
 * `assistant_done` event closes a message and carries no text.
 */
export type AgentEventPayload =
  | { type: 'user_message'; text: string }
  | { type: 'assistant_delta'; messageId: string; text: string }
  | { type: 'assistant_done'; messageId: string; chars: number }
  | { type: 'tool_call'; callId: string; name: string; args: unknown; terminalId?: string }
  | { type: 'tool_result'; callId: string; name: string; result: string; truncated: boolean; isError: boolean; terminalId?: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'turn'; state: 'started' | 'finished' | 'cancelled' | 'failed'; model?: string; usage?: { inputTokens?: number; outputTokens?: number }; reason?: string };

export type AgentEventType = AgentEventPayload['type'];

export interface StoredEvent {
  /** Monotonically increasing across the whole log (the SSE `id:`). */
  seq: number;
  sessionId: string;
  /** Milliseconds since the epoch. */
  at: number;
  payload: AgentEventPayload;
}

/**
 * What the chat API needs from the agent (implemented in src/agent/, registered as
 * `ctx.services.agent`). Kept apart so chat and agent can be built and tested independently.
 */
export interface AgentState {
  /** Chat sessions with a turn running now. */
  busySessions: string[];
  model: string | null;
  configured: boolean;
  /** Terminal ids the agent is acting in now, by chat session. */
  terminals: Record<string, string[]>;
}

export interface Agent {
  /** Whether a model is configured. When false, `startTurn` must not be called. */
  isConfigured(): boolean;
  /** How to configure a model (options / env), for the 503 agent_not_configured message and the UI. */
  configHelp(): string;
  /**
   * Starts a turn for `content` in a chat session: appends the user message, then runs the loop in
   * the background, appending every event to the log. 'busy' when a turn is already running and
   * the queue is full (the caller answers 409).
   */
  startTurn(sessionId: string, content: string): 'started' | 'queued' | 'busy';
  /** Cancels the running turn (and drops queued prompts) at once; false when nothing was running. */
  cancel(sessionId: string): boolean;
  isBusy(sessionId: string): boolean;
  state(): AgentState;
}

/**
 * Every option Keel has, in one list: flags (`--max-body-bytes`), environment variables
 * (`KEEL_MAX_BODY_BYTES`), config-file keys (`maxBodyBytes`), `keel --help` and the README table
 * are derived from it. A limit's `atLimit` says what happens when it is reached.
 */
import os from 'node:os';
import path from 'node:path';
import { int, list, oneOf, str, type Spec } from './spec.ts';

const KiB = 1024;
const MiB = 1024 * 1024;

function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'keel');
}

export const optionSpecs = {
  // --- server -------------------------------------------------------------------------------
  port: int({
    group: 'server',
    default: 7717,
    min: 0,
    max: 65535,
    help: 'TCP port to listen on (0 picks a free one). 7681 is left to ttyd.',
  }),
  host: str({
    group: 'server',
    default: '127.0.0.1',
    help: 'Address to bind. Anything other than loopback exposes shells to the network: use it only behind TLS and a firewall.',
    allowed: 'an IP address or host name',
    maxLength: 255,
  }),
  dataDir: str({
    group: 'server',
    default: defaultDataDir(),
    help: 'Directory for the SQLite database, the access token and heap snapshots.',
    allowed: 'a directory path',
  }),
  token: str({
    group: 'server',
    default: '',
    help: 'Access token. Empty: a random one is generated on first start and kept in <data-dir>/token.',
    allowed: 'at least 16 characters of [A-Za-z0-9_-], or empty',
    pattern: /^(|[A-Za-z0-9_-]{16,256})$/,
  }),
  allowedHosts: list({
    group: 'server',
    default: [],
    help: 'Extra Host names accepted (DNS-rebinding guard). Loopback names and the bound address are always accepted.',
  }),
  allowedOrigins: list({
    group: 'server',
    default: [],
    help: 'Extra Origins (e.g. https://keel.example.com) accepted on WebSocket upgrades and state-changing requests, besides the page’s own.',
  }),
  logLevel: oneOf({
    group: 'server',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
    help: 'Log level (logs are JSON lines on stdout, pino).',
  }),
  shutdownTimeoutMs: int({
    group: 'server',
    default: 10_000,
    min: 100,
    max: 60_000,
    unit: 'ms',
    help: 'How long a graceful shutdown may take before Keel exits anyway.',
    atLimit: 'Remaining connections are destroyed and the process exits with code 1; process groups of terminals are still sent SIGKILL.',
  }),

  // --- HTTP and WebSocket limits --------------------------------------------------------------
  maxBodyBytes: int({
    group: 'http',
    default: 256 * KiB,
    min: 1 * KiB,
    max: 64 * MiB,
    unit: 'bytes',
    help: 'Largest request body accepted.',
    atLimit: 'The request is refused with 413 {"error":"body_too_large"} before the body is buffered.',
  }),
  maxWsFrameBytes: int({
    group: 'http',
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    unit: 'bytes',
    help: 'Largest WebSocket message accepted from a client.',
    atLimit: 'The socket is closed with code 1009 (message too big).',
  }),
  maxHttpConnections: int({
    group: 'http',
    default: 256,
    min: 8,
    max: 100_000,
    help: 'Open TCP connections to the HTTP server, all kinds together.',
    atLimit: 'New connections get 503 {"error":"too_many_connections"} and are closed.',
  }),
  maxLiveViewers: int({
    group: 'http',
    default: 16,
    min: 1,
    max: 10_000,
    help: 'Concurrent health dashboards subscribed to /debug/live (WebSocket).',
    atLimit: 'The upgrade is refused with 503 {"error":"too_many_connections"}; an open socket over it is closed with 1013.',
  }),

  // --- health monitor -------------------------------------------------------------------------
  healthSampleMs: int({
    group: 'health',
    default: 5_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    help: 'How often memory is sampled.',
  }),
  healthHistorySamples: int({
    group: 'health',
    default: 720,
    min: 10,
    max: 100_000,
    help: 'Memory samples kept for the dashboard (720 × 5 s = 1 hour).',
    atLimit: 'The oldest sample is overwritten.',
  }),
  healthLogMs: int({
    group: 'health',
    default: 600_000,
    min: 0,
    max: 86_400_000,
    unit: 'ms',
    help: 'How often a one-line memory summary is logged (0 = never).',
  }),
  memoryWarnMb: int({
    group: 'health',
    default: 512,
    min: 16,
    max: 1_048_576,
    unit: 'MB',
    help: 'RSS warning threshold, in MB.',
    atLimit: 'Logged, and every trim hook runs (inactive scrollback, caches); again at most once per trim cooldown while above.',
  }),
  memoryCriticalMb: int({
    group: 'health',
    default: 1024,
    min: 32,
    max: 1_048_576,
    unit: 'MB',
    help: 'RSS critical threshold, in MB. Must be above the warning threshold.',
    atLimit: '/readyz answers 503 and new connections are refused with 503 {"error":"overloaded"} / close 1013 until RSS is back under the warning threshold.',
  }),
  trimCooldownMs: int({
    group: 'health',
    default: 60_000,
    min: 1_000,
    max: 86_400_000,
    unit: 'ms',
    help: 'Least time between two runs of the trim hooks while memory stays above the warning threshold.',
  }),
  auditLogEntries: int({
    group: 'health',
    default: 200,
    min: 10,
    max: 100_000,
    help: 'Cleanup and trim records kept for /debug/memory.',
    atLimit: 'The oldest record is overwritten.',
  }),
  heapProfileIntervalBytes: int({
    group: 'health',
    default: 512 * KiB,
    min: 0,
    max: 64 * MiB,
    unit: 'bytes',
    help: 'Average bytes between two samples of the heap profiler behind /debug/pprof/heap (0 turns it off).',
  }),
  maxHeapSnapshots: int({
    group: 'health',
    default: 2,
    min: 0,
    max: 100,
    help: 'Heap snapshot files kept in <data-dir>/heapsnapshots (0 disables POST /debug/heapsnapshot).',
    atLimit: 'The oldest snapshot file is deleted before a new one is written.',
  }),
  // --- terminals ------------------------------------------------------------------------------
  maxTerminalSessions: int({
    group: 'terminals',
    default: 32,
    min: 1,
    max: 10_000,
    help: 'Terminal sessions (PTYs) open at once.',
    atLimit: 'POST /api/terminals answers 503 {"error":"too_many_connections"}; close a tab first.',
  }),
  maxViewersPerSession: int({
    group: 'terminals',
    default: 8,
    min: 1,
    max: 1_000,
    help: 'Viewers (WebSockets) attached to one terminal at once, owner and read-only together.',
    atLimit: 'The upgrade is refused with 503 {"error":"too_many_connections"}; a racing socket is closed with 1013.',
  }),
  maxTerminalViewers: int({
    group: 'terminals',
    default: 64,
    min: 1,
    max: 100_000,
    help: 'Viewers attached to all terminals together.',
    atLimit: 'The upgrade is refused with 503 {"error":"too_many_connections"}; a racing socket is closed with 1013.',
  }),
  terminalScrollbackLines: int({
    group: 'terminals',
    default: 2_000,
    min: 0,
    max: 100_000,
    unit: 'lines',
    help: 'Scrollback lines kept by each terminal\'s headless mirror (what a reconnecting viewer gets back).',
    atLimit: 'The oldest line is dropped from the mirror (viewers keep their own scrollback).',
  }),
  terminalHighWatermarkBytes: int({
    group: 'terminals',
    default: 256 * KiB,
    min: 1 * KiB,
    max: 64 * MiB,
    unit: 'bytes',
    help: 'Output sent to one viewer and not yet acknowledged, past which that viewer is "over".',
    atLimit: 'When every viewer is over it the PTY is paused; a viewer over it while others keep up is marked behind (no more output queued for it) and gets a fresh snapshot once it has caught up.',
  }),
  terminalLowWatermarkBytes: int({
    group: 'terminals',
    default: 32 * KiB,
    min: 0,
    max: 64 * MiB,
    unit: 'bytes',
    help: 'Unacknowledged output under which a paused PTY resumes and a behind viewer is resynchronised. Must be below the high watermark.',
  }),
  terminalMirrorBacklogBytes: int({
    group: 'terminals',
    default: 1 * MiB,
    min: 16 * KiB,
    max: 256 * MiB,
    unit: 'bytes',
    help: 'Output handed to a terminal\'s mirror (parsed in a worker thread) and not yet parsed.',
    atLimit: 'The PTY is paused until the mirror has parsed half of it: the mirror sees every byte, so snapshots stay exact.',
  }),
  terminalMirrorWorkers: int({
    group: 'terminals',
    default: 1,
    min: 1,
    max: 64,
    help: 'Worker threads that parse terminal output into the headless mirrors (sessions are spread over them).',
  }),
  terminalKillGraceMs: int({
    group: 'terminals',
    default: 3_000,
    min: 0,
    max: 60_000,
    unit: 'ms',
    help: 'Time between SIGHUP and SIGKILL when a terminal\'s process group is hung up.',
    atLimit: 'Every process left in the terminal\'s session gets SIGKILL.',
  }),
  terminalIdleCloseMs: int({
    group: 'terminals',
    default: 0,
    min: 0,
    max: 30 * 86_400_000,
    unit: 'ms',
    help: 'Close a terminal that has had no viewer for this long (0 = never; the PTY outlives its viewers, like tmux).',
    atLimit: 'The terminal is closed (SIGHUP to its process group) and recorded in the cleanup log.',
  }),
  terminalInactiveTrimMs: int({
    group: 'terminals',
    default: 600_000,
    min: 0,
    max: 30 * 86_400_000,
    unit: 'ms',
    help: 'Trim the mirror scrollback of a terminal that has had no viewer for this long (0 = never; the health monitor\'s warning threshold trims them too).',
    atLimit: 'The mirror keeps only the visible screen; a later viewer gets the screen without the older scrollback.',
  }),
  terminalPingMs: int({
    group: 'terminals',
    default: 30_000,
    min: 1_000,
    max: 600_000,
    unit: 'ms',
    help: 'Ping interval for terminal viewers.',
    atLimit: 'A viewer that did not answer the previous ping is terminated and its slot released.',
  }),
  terminalMinCols: int({ group: 'terminals', default: 2, min: 1, max: 1_000, help: 'Smallest terminal width accepted, in columns.', atLimit: 'A smaller size is refused (400 on create, an "e" notice on resize).' }),
  terminalMaxCols: int({ group: 'terminals', default: 500, min: 1, max: 4_096, help: 'Largest terminal width accepted, in columns (mirror memory grows with cols × rows × scrollback).', atLimit: 'A larger size is refused (400 on create, an "e" notice on resize).' }),
  terminalMinRows: int({ group: 'terminals', default: 1, min: 1, max: 1_000, help: 'Smallest terminal height accepted, in rows.', atLimit: 'A smaller size is refused (400 on create, an "e" notice on resize).' }),
  terminalMaxRows: int({ group: 'terminals', default: 200, min: 1, max: 4_096, help: 'Largest terminal height accepted, in rows.', atLimit: 'A larger size is refused (400 on create, an "e" notice on resize).' }),
  terminalShell: str({
    group: 'terminals',
    default: '',
    help: 'Shell started in new terminals (empty: $SHELL, else /bin/sh). A terminal created with a command runs `<shell> -c <command>`.',
    allowed: 'a path to an executable, or empty',
  }),
  // --- agent ----------------------------------------------------------------------------------
  agentProvider: oneOf({
    group: 'agent',
    default: 'none',
    values: ['none', 'openai-compatible', 'anthropic'] as const,
    help: 'Model provider for the agent: "openai-compatible" (OpenAI, Ollama, vLLM, LM Studio… with --agent-base-url) or "anthropic". "none": no agent; terminals, chat history and documents still work.',
  }),
  agentBaseUrl: str({
    group: 'agent',
    default: '',
    help: 'Base URL of the model API, e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:1234/v1 (LM Studio). Required for openai-compatible; optional for anthropic (default https://api.anthropic.com/v1).',
    allowed: 'an http(s) URL, or empty',
    pattern: /^(|https?:\/\/\S+)$/,
    maxLength: 2048,
  }),
  agentApiKey: str({
    group: 'agent',
    default: '',
    help: 'API key for the model. Empty: OPENAI_API_KEY (openai-compatible) or ANTHROPIC_API_KEY (anthropic) is used; local servers (Ollama, LM Studio) need none. Prefer the environment (KEEL_AGENT_API_KEY) to a flag: flags show in `ps`.',
    allowed: 'a string, or empty',
  }),
  agentModel: str({
    group: 'agent',
    default: '',
    help: 'Model id, e.g. gpt-4.1-mini, qwen2.5-coder:14b, claude-sonnet-4-5. Required when a provider is set.',
    allowed: 'a model id',
    maxLength: 256,
  }),
  agentContextTokens: int({
    group: 'agent',
    default: 32_000,
    min: 4_000,
    max: 2_000_000,
    help: 'Token budget of the model context (estimated as characters / 4), instructions and tool definitions included. Set it below the model\'s context window, leaving room for the answer.',
    atLimit: 'Older tool outputs are shortened first, then the oldest turns are left out (the first user message and the latest turn are kept, the gap is marked); the full history stays in the event log.',
  }),
  agentMaxSteps: int({
    group: 'agent',
    default: 24,
    min: 1,
    max: 500,
    help: 'Model calls per turn (each tool round trip is one).',
    atLimit: 'The last call is made with tools disabled, so the model answers in text and the turn ends.',
  }),
  agentMaxToolResultBytes: int({
    group: 'agent',
    default: 16 * KiB,
    min: 256,
    max: 4 * MiB,
    unit: 'bytes',
    help: 'Largest tool result (screen text, lists) recorded and sent to the model.',
    atLimit: 'The result is cut (a screen keeps its last lines) and ends with a visible "[… truncated …]" marker.',
  }),
  agentTurnTimeoutMs: int({
    group: 'agent',
    default: 600_000,
    min: 100,
    max: 86_400_000,
    unit: 'ms',
    help: 'Longest a turn may run, model calls and terminal waits together.',
    atLimit: 'The model call and any wait are aborted; the turn is recorded as failed with an error event "turn_timeout"; the session stays usable.',
  }),
  agentQueueDepth: int({
    group: 'agent',
    default: 4,
    min: 0,
    max: 100,
    help: 'Prompts queued per chat session while a turn runs (0: refuse instead of queueing).',
    atLimit: 'POST /api/chat/sessions/:id/messages answers 409 {"error":"agent_busy"}; cancel or wait for the turn to finish.',
  }),
  agentMaxConcurrentTurns: int({
    group: 'agent',
    default: 8,
    min: 1,
    max: 1_000,
    help: 'Agent turns running at once, all chat sessions together (each holds a model stream and its context).',
    atLimit: 'A prompt for an idle session is refused with 503 {"error":"too_many_connections","kind":"agent_turns"}; try again when a turn ends.',
  }),
  agentWaitMaxMs: int({
    group: 'agent',
    default: 120_000,
    min: 100,
    max: 3_600_000,
    unit: 'ms',
    help: 'Longest a single terminal_wait tool call may wait (the model asks for less; longer requests are clamped).',
    atLimit: 'The wait ends with reason "timeout" and the model is told so; it can wait again.',
  }),
} satisfies Record<string, Spec<any>>;

export type OptionKey = keyof typeof optionSpecs;
export type KeelOptions = { [K in OptionKey]: (typeof optionSpecs)[K] extends Spec<infer T> ? T : never };

export function defaultOptions(): KeelOptions {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(optionSpecs)) out[k] = structuredClone(s.default);
  return out as KeelOptions;
}

/** `maxBodyBytes` → `--max-body-bytes`. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `maxBodyBytes` → `KEEL_MAX_BODY_BYTES`. */
export function envName(key: string): string {
  return 'KEEL_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

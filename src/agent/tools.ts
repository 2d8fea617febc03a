/**
 * The agent's tools: they act on Keel's terminals through a TerminalControl. The AI SDK gets their
 * descriptions and input schemas (and validates the model's arguments against them); the loop runs
 * them itself, one at a time, so their results are recorded in call order and a cancel reaches
 * them through the turn's AbortSignal.
 *
 * Every result is bounded (`agentMaxToolResultBytes`) with a visible truncation marker; a screen
 * keeps its last lines, everything else its beginning.
 */
import { tool, type ToolSet } from 'ai';
import { z } from 'zod';
import { KeelError } from '../core/errors.ts';
import { splitUtf8 } from './coalesce.ts';
import { KEY_NAMES, keyBytes } from './keys.ts';
import type { TerminalControl } from './terminal-control.ts';
import { compilePattern, waitForTerminal } from './wait.ts';

/** Largest text one terminal_write may type. */
export const MAX_WRITE_CHARS = 16 * 1024;
/** Most scrollback lines terminal_read returns above the screen. */
export const MAX_READ_SCROLLBACK_LINES = 2_000;
const DEFAULT_COLS = 120;
const DEFAULT_ROWS = 32;

export interface ToolOutcome {
  text: string;
  isError: boolean;
  /** The terminal the call acted in (highlighted in the UI). */
  terminalId?: string;
  /** Which end to keep when over the bound: a screen's end is what matters. */
  keep?: 'head' | 'tail';
}

export interface ToolRunContext {
  signal: AbortSignal;
  waitMaxMs: number;
}

interface AgentTool {
  schema: z.ZodType;
  description: string;
  run(args: any, ctx: ToolRunContext): Promise<ToolOutcome>;
}

const terminalId = z.string().min(1).max(64).describe('The terminal id, e.g. "t_AbC123" (from terminal_list or terminal_create).');

export function terminalTools(ctrl: TerminalControl): Record<string, AgentTool> {
  const r = ctrl.sizeRange;
  return {
    terminal_list: {
      description: 'List the open terminals (id, name, working directory, command, size, state). Terminals are shared with the user, who sees what you type.',
      schema: z.object({}),
      async run() {
        const list = ctrl.list();
        return { text: list.length ? JSON.stringify(list) : 'No terminals are open. Create one with terminal_create.', isError: false };
      },
    },
    terminal_create: {
      description: 'Open a new terminal (a shell, or one command) and return its id. It appears as a tab in the user\'s browser.',
      schema: z.object({
        name: z.string().min(1).max(100).optional().describe('Tab name.'),
        cwd: z.string().min(1).max(4096).optional().describe('Working directory (default: the home directory).'),
        command: z.string().min(1).max(4096).optional().describe('Run this command instead of an interactive shell.'),
        cols: z.int().min(r.minCols).max(r.maxCols).optional().describe(`Width in columns (default ${DEFAULT_COLS}).`),
        rows: z.int().min(r.minRows).max(r.maxRows).optional().describe(`Height in rows (default ${DEFAULT_ROWS}).`),
      }),
      async run(a: { name?: string; cwd?: string; command?: string; cols?: number; rows?: number }) {
        const t = ctrl.create({ cols: clamp(a.cols ?? DEFAULT_COLS, r.minCols, r.maxCols), rows: clamp(a.rows ?? DEFAULT_ROWS, r.minRows, r.maxRows), cwd: a.cwd, command: a.command ?? null, name: a.name });
        return { text: JSON.stringify(t), isError: false, terminalId: t.id };
      },
    },
    terminal_read: {
      description: 'Read a terminal\'s screen as plain text (what the user sees), optionally with scrollback lines above it. Long screens are cut from the top.',
      schema: z.object({
        terminalId,
        scrollbackLines: z.int().min(0).max(MAX_READ_SCROLLBACK_LINES).optional().describe('Lines of scrollback to include above the screen (default 0).'),
      }),
      async run(a: { terminalId: string; scrollbackLines?: number }) {
        const text = await ctrl.screen(a.terminalId, a.scrollbackLines ?? 0);
        return { text: text || '(the screen is empty)', isError: false, terminalId: a.terminalId, keep: 'tail' };
      },
    },
    terminal_write: {
      description:
        'Type into a terminal: `text` first, then each of `keys` in order. To run a command send its text and keys ["Enter"]. ' +
        `Keys: ${KEY_NAMES.join(', ')}. Then use terminal_wait before reading the result.`,
      schema: z.object({
        terminalId,
        text: z.string().max(MAX_WRITE_CHARS).optional().describe('Text typed as is (no Enter is added).'),
        keys: z.array(z.string().min(1).max(20)).max(64).optional().describe('Named keys pressed after the text, e.g. ["Enter"] or ["Ctrl+C"].'),
      }),
      async run(a: { terminalId: string; text?: string; keys?: string[] }) {
        const data = (a.text ?? '') + (a.keys ?? []).map(keyBytes).join('');
        if (!data) return { text: 'Nothing to type: give text and/or keys.', isError: true, terminalId: a.terminalId };
        const res = ctrl.write(a.terminalId, data);
        if (res === 'exited') return { text: `Terminal ${a.terminalId} has exited; nothing was typed.`, isError: true, terminalId: a.terminalId };
        if (res === 'busy') {
          // Refused whole (docs/protocol.md): a key sent now, Ctrl+C included, would wait behind the unread input anyway.
          const text = `Terminal ${a.terminalId} is not reading its input: more is waiting than --terminal-max-pending-input-bytes allows, so nothing was typed, and nothing will be until the program has read what is waiting. Wait (terminal_wait) and try again, or ask the user.`;
          return { text, isError: true, terminalId: a.terminalId };
        }
        return { text: `Typed ${a.text ? `${a.text.length} characters` : ''}${a.text && a.keys?.length ? ' and ' : ''}${a.keys?.length ? a.keys.join(' ') : ''} into ${a.terminalId}.`, isError: false, terminalId: a.terminalId };
      },
    },
    terminal_wait: {
      description:
        'Wait until a terminal\'s output has been quiet for `quietMs`, or `pattern` (a JavaScript regular expression, multiline) matches its screen, or it exits, or `timeoutMs` passes. ' +
        'With neither pattern nor quietMs it waits for 1 s of quiet. The pattern is tested against the screen as it is, so pick one that is not already shown.',
      schema: z.object({
        terminalId,
        pattern: z.string().min(1).max(500).optional().describe('Regular expression to wait for, e.g. "\\\\$ $" or "tests? (passed|failed)".'),
        quietMs: z.int().min(50).max(600_000).optional().describe('Return once no output arrived for this long.'),
        timeoutMs: z.int().min(100).max(86_400_000).optional().describe('Give up after this long (default and maximum: set by the server).'),
      }),
      async run(a: { terminalId: string; pattern?: string; quietMs?: number; timeoutMs?: number }, ctx) {
        const timeoutMs = Math.min(a.timeoutMs ?? ctx.waitMaxMs, ctx.waitMaxMs);
        if (ctrl.outputBytes(a.terminalId) === undefined) await ctrl.screen(a.terminalId, 0); // throws "not found" with its message
        const res = await waitForTerminal(ctrl, { terminalId: a.terminalId, pattern: a.pattern ? compilePattern(a.pattern) : undefined, quietMs: a.quietMs, timeoutMs }, ctx.signal);
        const what = res.reason === 'pattern' ? `the pattern matched: ${JSON.stringify(res.match)}` : res.reason === 'quiet' ? 'the output went quiet' : res.reason === 'exited' ? 'the terminal exited' : `timed out (${timeoutMs} ms)`;
        return { text: `Waited ${res.elapsedMs} ms: ${what}.`, isError: false, terminalId: a.terminalId };
      },
    },
  };
}

/** The tool set for the AI SDK: descriptions and schemas only (no execute: the loop runs them). */
export function sdkToolSet(tools: Record<string, AgentTool>): ToolSet {
  const out: ToolSet = {};
  for (const [name, t] of Object.entries(tools)) out[name] = tool({ description: t.description, inputSchema: t.schema });
  return out;
}

/** Estimated tokens the tool definitions take in every request (descriptions and JSON schemas). */
export function toolDefinitionsChars(tools: Record<string, AgentTool>): number {
  let n = 0;
  for (const [name, t] of Object.entries(tools)) n += name.length + t.description.length + JSON.stringify(z.toJSONSchema(t.schema)).length + 40;
  return n;
}

/** Runs a tool; any error (terminal gone, limit, bad key) becomes an error result for the model. */
export async function runTool(tools: Record<string, AgentTool>, name: string, args: unknown, ctx: ToolRunContext): Promise<ToolOutcome> {
  const t = tools[name];
  if (!t) return { text: `Unknown tool "${name}". Available: ${Object.keys(tools).join(', ')}.`, isError: true };
  const tid = args && typeof args === 'object' && typeof (args as { terminalId?: unknown }).terminalId === 'string' ? (args as { terminalId: string }).terminalId : undefined;
  try {
    return await t.run(args, ctx);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const msg = err instanceof KeelError ? err.message : (err as Error)?.message ?? String(err);
    return { text: `${name} failed: ${msg}`, isError: true, ...(tid ? { terminalId: tid } : {}) };
  }
}

/** Cuts `text` to `maxBytes` of UTF-8, keeping its head or its tail, with a visible marker. */
export function boundResult(text: string, maxBytes: number, keep: 'head' | 'tail' = 'head'): { text: string; truncated: boolean } {
  const total = Buffer.byteLength(text);
  if (total <= maxBytes) return { text, truncated: false };
  const marker = (n: number) => `[… truncated: ${n} of ${total} bytes left out …]`;
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker(total)) - 1);
  if (keep === 'head') {
    const [head] = splitUtf8(text, room);
    return { text: `${head}\n${marker(total - Buffer.byteLength(head))}`, truncated: true };
  }
  // The tail: split the reversed problem by bytes from the end, on a line boundary when one is near.
  let start = text.length;
  let bytes = 0;
  while (start > 0) {
    const cp = text.codePointAt(start - 1)!;
    const isLow = cp >= 0xdc00 && cp <= 0xdfff && start >= 2;
    const ch = isLow ? text.slice(start - 2, start) : text[start - 1]!;
    const n = Buffer.byteLength(ch);
    if (bytes + n > room) break;
    bytes += n;
    start -= ch.length;
  }
  const nl = text.indexOf('\n', start);
  if (nl !== -1 && nl - start < 200) start = nl + 1;
  const tail = text.slice(start);
  return { text: `${marker(total - Buffer.byteLength(tail))}\n${tail}`, truncated: true };
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

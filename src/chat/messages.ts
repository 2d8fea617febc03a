/**
 * Chat messages as the user reads them, rebuilt from the event log: a user message, an assistant
 * message (its deltas joined, in order), a tool call with its result, an error, a cancelled or
 * failed turn. Pure functions, tested without a server. A message's `id` is the seq of its first
 * event, which is also the paging cursor (`before`).
 */
import type { StoredEvent } from '../stream/events.ts';

interface Base {
  /** Seq of the message's first event. */
  id: number;
  /** ISO time of the first event. */
  at: string;
}
export type ChatMessage =
  | (Base & { kind: 'user'; text: string })
  | (Base & { kind: 'assistant'; messageId: string; text: string; done: boolean })
  | (Base & {
      kind: 'tool';
      callId: string;
      name: string;
      args: unknown;
      terminalId?: string;
      /** Absent while the call runs. */
      result?: { text: string; truncated: boolean; isError: boolean };
    })
  | (Base & { kind: 'error'; code: string; message: string })
  | (Base & { kind: 'turn'; state: 'cancelled' | 'failed'; reason?: string });

/**
 * Folds events (oldest first) into messages (ordered by their first event). Events that belong to
 * no message here (turn started/finished) are skipped; a result whose call is missing (cut by
 * retention) still becomes a tool message.
 */
export function foldMessages(events: Iterable<StoredEvent>): ChatMessage[] {
  const out: ChatMessage[] = [];
  const assistant = new Map<string, { msg: ChatMessage & { kind: 'assistant' }; parts: string[] }>();
  const tools = new Map<string, ChatMessage & { kind: 'tool' }>();
  for (const e of events) {
    const p = e.payload;
    const at = new Date(e.at).toISOString();
    switch (p.type) {
      case 'user_message':
        out.push({ id: e.seq, at, kind: 'user', text: p.text });
        break;
      case 'assistant_delta':
      case 'assistant_done': {
        let a = assistant.get(p.messageId);
        if (!a) {
          a = { msg: { id: e.seq, at, kind: 'assistant', messageId: p.messageId, text: '', done: false }, parts: [] };
          assistant.set(p.messageId, a);
          out.push(a.msg);
        }
        if (p.type === 'assistant_delta') a.parts.push(p.text);
        else a.msg.done = true;
        break;
      }
      case 'tool_call':
      case 'tool_result': {
        let t = tools.get(p.callId);
        if (!t) {
          t = { id: e.seq, at, kind: 'tool', callId: p.callId, name: p.name, args: p.type === 'tool_call' ? p.args : undefined };
          tools.set(p.callId, t);
          out.push(t);
        }
        if (p.type === 'tool_call') {
          t.args = p.args;
          if (p.terminalId !== undefined) t.terminalId = p.terminalId;
        } else {
          t.result = { text: p.result, truncated: p.truncated, isError: p.isError };
          if (p.terminalId !== undefined && t.terminalId === undefined) t.terminalId = p.terminalId;
        }
        break;
      }
      case 'error':
        out.push({ id: e.seq, at, kind: 'error', code: p.code, message: p.message });
        break;
      case 'turn':
        if (p.state === 'cancelled' || p.state === 'failed') out.push({ id: e.seq, at, kind: 'turn', state: p.state, ...(p.reason !== undefined ? { reason: p.reason } : {}) });
        break;
    }
  }
  // Joined once at the end: deltas are many small chunks, and one join is linear.
  for (const a of assistant.values()) a.msg.text = a.parts.join('');
  out.sort((x, y) => x.id - y.id);
  return out;
}

export interface ExportedSession {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

/** A fence longer than any run of backticks in `text`, so tool output cannot close it early. */
function fenceFor(text: string): string {
  let longest = 0;
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

function block(text: string, lang = ''): string {
  const f = fenceFor(text);
  return `${f}${lang}\n${text}${text.endsWith('\n') ? '' : '\n'}${f}`;
}

/** Markdown export: a title, then a heading per message, tool calls with fenced arguments and results. */
export function toMarkdown(session: ExportedSession, messages: ChatMessage[], exportedAt: Date): string {
  return markdownHeader(session, exportedAt) + markdownMessages(messages);
}

export function markdownHeader(session: ExportedSession, exportedAt: Date): string {
  return `# ${session.title.replace(/\r?\n/g, ' ')}\n\n_Chat session ${session.id}, created ${session.createdAt}; exported from Keel ${exportedAt.toISOString()}._\n\n`;
}

export function markdownMessages(messages: ChatMessage[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    switch (m.kind) {
      case 'user':
        lines.push(`## You (${m.at})`, '', m.text, '');
        break;
      case 'assistant':
        lines.push(`## Assistant (${m.at})`, '', m.text + (m.done ? '' : '\n\n_(incomplete)_'), '');
        break;
      case 'tool': {
        lines.push(`### Tool call: ${m.name}${m.terminalId ? ` (terminal ${m.terminalId})` : ''}`, '', block(JSON.stringify(m.args ?? null, null, 2), 'json'), '');
        if (m.result) {
          const tags = [m.result.isError ? 'error' : '', m.result.truncated ? 'truncated' : ''].filter(Boolean).join(', ');
          lines.push(`Result${tags ? ` (${tags})` : ''}:`, '', block(m.result.text), '');
        } else lines.push('_No result recorded._', '');
        break;
      }
      case 'error':
        lines.push(`> **Error** \`${m.code}\`: ${m.message.replace(/\r?\n/g, ' ')}`, '');
        break;
      case 'turn':
        lines.push(`> _Turn ${m.state}${m.reason ? `: ${m.reason.replace(/\r?\n/g, ' ')}` : ''}_`, '');
        break;
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

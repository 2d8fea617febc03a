/**
 * The message list of one chat session: messages loaded a page at a time (older on demand) and
 * live events folded in as they arrive (the same folding as src/chat/messages.ts on the server).
 * Assistant text is rendered as sanitized Markdown, at most once per animation frame while it streams.
 */
import { h } from '../dom.ts';
import { Timer, type Disposable } from '../lifecycle.ts';
import { renderMarkdown } from './markdown.ts';
import type { ChatMessage, StoredEvent } from './types.ts';

/** Messages kept in the page; older ones are dropped from the top (and can be loaded again). */
export const MAX_RENDERED_MESSAGES = 400;
/** Tool arguments and results longer than this are cut in the page (the export has them whole). */
const MAX_TOOL_TEXT_CHARS = 20_000;

interface Rendered {
  msg: ChatMessage;
  el: HTMLElement;
  body?: HTMLElement;
  parts?: string[];
}

export interface MessageListOptions {
  /** A link to a terminal (its page), for tool calls that act in one. */
  terminalLink(id: string): HTMLElement;
}

function clip(s: string): string {
  return s.length > MAX_TOOL_TEXT_CHARS ? `${s.slice(0, MAX_TOOL_TEXT_CHARS)}\n[… ${s.length - MAX_TOOL_TEXT_CHARS} more characters not shown …]` : s;
}

function argsText(args: unknown): string {
  if (args === undefined) return '';
  try {
    return JSON.stringify(args, null, 2) ?? '';
  } catch {
    return String(args);
  }
}

export class MessageList implements Disposable {
  readonly element: HTMLElement;
  readonly #o: MessageListOptions;
  readonly #byId = new Map<number, Rendered>();
  readonly #assistant = new Map<string, Rendered>();
  readonly #tools = new Map<string, Rendered>();
  readonly #dirty = new Set<Rendered>();
  readonly #frame = new Timer();
  #raf = 0;

  constructor(o: MessageListOptions) {
    this.#o = o;
    this.element = h('div', { class: 'chat-messages', 'data-testid': 'chat-messages' });
  }

  get size(): number {
    return this.#byId.size;
  }

  get oldestId(): number | undefined {
    let min: number | undefined;
    for (const id of this.#byId.keys()) if (min === undefined || id < min) min = id;
    return min;
  }

  clear(): void {
    this.#byId.clear();
    this.#assistant.clear();
    this.#tools.clear();
    this.#dirty.clear();
    this.element.replaceChildren();
  }

  /** Adds whole messages from the API (any order; placed by id). */
  addMessages(msgs: ChatMessage[]): void {
    for (const m of msgs) {
      if (this.#byId.has(m.id)) continue;
      const r = this.#create(m);
      if (m.kind === 'assistant') r.parts = [m.text];
      this.#paint(r);
    }
  }

  /** Folds one live event in. */
  applyEvent(ev: StoredEvent): void {
    const p = ev.payload;
    const at = new Date(ev.at).toISOString();
    switch (p.type) {
      case 'user_message':
        if (!this.#byId.has(ev.seq)) this.#paint(this.#create({ id: ev.seq, at, kind: 'user', text: p.text }));
        break;
      case 'assistant_delta':
      case 'assistant_done': {
        let r = this.#assistant.get(p.messageId);
        if (!r) {
          r = this.#create({ id: ev.seq, at, kind: 'assistant', messageId: p.messageId, text: '', done: false });
          r.parts = [];
        }
        const m = r.msg as ChatMessage & { kind: 'assistant' };
        if (p.type === 'assistant_delta') r.parts!.push(p.text);
        else m.done = true;
        this.#schedule(r);
        break;
      }
      case 'tool_call':
      case 'tool_result': {
        let r = this.#tools.get(p.callId);
        if (!r) r = this.#create({ id: ev.seq, at, kind: 'tool', callId: p.callId, name: p.name, args: p.type === 'tool_call' ? p.args : undefined });
        const m = r.msg as ChatMessage & { kind: 'tool' };
        if (p.type === 'tool_call') {
          m.args = p.args;
          if (p.terminalId !== undefined) m.terminalId = p.terminalId;
        } else {
          m.result = { text: p.result, truncated: p.truncated, isError: p.isError };
          if (p.terminalId !== undefined && m.terminalId === undefined) m.terminalId = p.terminalId;
        }
        this.#paint(r);
        break;
      }
      case 'error':
        this.#paint(this.#create({ id: ev.seq, at, kind: 'error', code: p.code, message: p.message }));
        break;
      case 'turn':
        if (p.state === 'cancelled' || p.state === 'failed') this.#paint(this.#create({ id: ev.seq, at, kind: 'turn', state: p.state, ...(p.reason !== undefined ? { reason: p.reason } : {}) }));
        break;
    }
    this.#trim();
  }

  #create(m: ChatMessage): Rendered {
    const el = h('div', { class: `msg msg-${m.kind}`, 'data-id': m.id, 'data-kind': m.kind });
    const r: Rendered = { msg: m, el };
    this.#byId.set(m.id, r);
    if (m.kind === 'assistant') this.#assistant.set(m.messageId, r);
    if (m.kind === 'tool') this.#tools.set(m.callId, r);
    // Keep the list ordered by id: live messages append; an older page inserts before.
    let next: Element | null = null;
    for (const child of this.element.children) {
      if (Number((child as HTMLElement).dataset.id) > m.id) {
        next = child;
        break;
      }
    }
    this.element.insertBefore(el, next);
    return r;
  }

  #schedule(r: Rendered): void {
    this.#dirty.add(r);
    if (this.#raf || this.#frame.pending) return;
    // A hidden tab gets no animation frames; the timer paints it anyway, a little later.
    this.#raf = requestAnimationFrame(() => this.#flush());
    this.#frame.set(() => this.#flush(), 250);
  }

  #flush(): void {
    if (this.#raf) cancelAnimationFrame(this.#raf);
    this.#raf = 0;
    this.#frame.cancel();
    const rs = [...this.#dirty];
    this.#dirty.clear();
    for (const r of rs) if (this.#byId.get(r.msg.id) === r) this.#paint(r);
  }

  #paint(r: Rendered): void {
    const m = r.msg;
    switch (m.kind) {
      case 'user':
        r.el.replaceChildren(h('div', { class: 'msg-bubble' }, m.text));
        break;
      case 'assistant': {
        if (r.parts && r.parts.length > 1) r.parts = [r.parts.join('')];
        m.text = r.parts?.[0] ?? m.text;
        if (!r.body) {
          r.body = h('div', { class: 'md' });
          r.el.replaceChildren(r.body);
        }
        // Sanitized by DOMPurify in renderMarkdown: model output never becomes live HTML.
        r.body.innerHTML = renderMarkdown(m.text);
        r.el.classList.toggle('streaming', !m.done);
        break;
      }
      case 'tool': {
        const status = !m.result ? 'running' : m.result.isError ? 'error' : 'ok';
        r.el.dataset.status = status;
        const open = (r.el.querySelector('details') as HTMLDetailsElement | null)?.open ?? false;
        const summary = h(
          'summary',
          { class: 'tool-summary' },
          h('span', { class: `tool-dot tool-${status}` }),
          h('span', { class: 'tool-name' }, m.name),
          m.terminalId ? this.#o.terminalLink(m.terminalId) : null,
          h('span', { class: 'tool-status muted' }, status === 'running' ? 'running…' : status === 'error' ? 'failed' : m.result?.truncated ? 'done · truncated' : 'done'),
        );
        const details = h(
          'details',
          { class: 'tool', open },
          summary,
          h('div', { class: 'tool-label' }, 'Arguments'),
          h('pre', { class: 'tool-pre tool-args' }, clip(argsText(m.args))),
          m.result ? h('div', { class: 'tool-label' }, m.result.isError ? 'Error' : 'Result') : null,
          m.result ? h('pre', { class: `tool-pre tool-result${m.result.isError ? ' is-error' : ''}` }, clip(m.result.text)) : null,
        );
        r.el.replaceChildren(details);
        break;
      }
      case 'error':
        r.el.replaceChildren(h('div', { class: 'msg-note note-error' }, h('strong', {}, 'Error'), ` (${m.code}): `, m.message));
        break;
      case 'turn':
        r.el.replaceChildren(h('div', { class: 'msg-note' }, m.state === 'cancelled' ? 'Turn cancelled' : 'Turn failed', m.reason ? `: ${m.reason}` : '.'));
        break;
    }
  }

  /** Drops the oldest messages past the bound; "Load older" brings them back. */
  #trim(): void {
    while (this.#byId.size > MAX_RENDERED_MESSAGES) {
      const first = this.element.firstElementChild as HTMLElement | null;
      if (!first) break;
      const r = this.#byId.get(Number(first.dataset.id));
      first.remove();
      if (!r) continue;
      this.#byId.delete(r.msg.id);
      if (r.msg.kind === 'assistant') this.#assistant.delete(r.msg.messageId);
      if (r.msg.kind === 'tool') this.#tools.delete(r.msg.callId);
    }
  }

  /** Text of the messages as shown (for tests and copy). */
  texts(): { kind: string; text: string }[] {
    return [...this.element.children].map((el) => ({ kind: (el as HTMLElement).dataset.kind ?? '', text: el.textContent ?? '' }));
  }

  dispose(): void {
    if (this.#raf) cancelAnimationFrame(this.#raf);
    this.#frame.dispose();
    this.clear();
  }
}

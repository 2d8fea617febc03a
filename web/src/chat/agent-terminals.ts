/**
 * The terminals the agent works in, as the chat shows them: chips named after the terminal (its
 * tab name, learned from /api/terminals), the "agent is working in" bar, and a style sheet that
 * marks those terminals' tabs on the Terminals page. The names are a TerminalNames (bounded by the
 * terminals that exist).
 */
import { api } from '../api.ts';
import { h, setText } from '../dom.ts';
import { toDisposable, type Disposable } from '../lifecycle.ts';
import { TerminalNames, type TerminalName } from './terminal-names.ts';
import type { AgentState, ChatMessage } from './types.ts';

export class AgentTerminals implements Disposable {
  /** The "agent is working in …" bar, placed by the chat page. */
  readonly bar: HTMLElement;
  readonly #root: () => ParentNode;
  readonly #style: HTMLStyleElement;
  readonly #names = new TerminalNames();
  readonly #disposeStyle: Disposable;

  /** `root`: where the chips live (their names are updated in place once learned). */
  constructor(root: () => ParentNode) {
    this.#root = root;
    this.bar = h('div', { class: 'chat-agent-bar', hidden: true, 'data-testid': 'chat-agent-terminal' });
    this.#style = h('style', { 'data-owner': 'chat' });
    document.head.append(this.#style);
    this.#disposeStyle = toDisposable(() => this.#style.remove());
  }

  /** A chip linking to the terminal's page, named once the name is known. */
  link(id: string): HTMLElement {
    const a = h('a', { class: 'term-chip', href: `#/terminals/${encodeURIComponent(id)}`, 'data-terminal': id, title: 'Open this terminal' }, this.#names.name(id));
    a.addEventListener('click', (e) => e.stopPropagation());
    return a;
  }

  /** Marks the tabs of every terminal the agent holds (one style element, not another page's DOM), and fills the bar with the active session's. */
  render(state: AgentState | undefined, activeSession: string | undefined): void {
    const all = new Set<string>();
    for (const ids of Object.values(state?.terminals ?? {})) for (const t of ids) all.add(t);
    this.#style.textContent = [...all].map((t) => `.tab[data-id="${CSS.escape(t)}"]`).join(',') + (all.size ? '{box-shadow: inset 0 2px 0 var(--heap); color: var(--text);} ' : '') + [...all].map((t) => `.tab[data-id="${CSS.escape(t)}"] .tab-label::after`).join(',') + (all.size ? "{content: ' · agent'; color: var(--heap);}" : '');
    const mine = activeSession ? (state?.terminals[activeSession] ?? []) : [];
    if (mine.length === 0) {
      this.bar.hidden = true;
      return;
    }
    for (const t of mine) void this.learn(t);
    this.bar.replaceChildren(h('span', { class: 'agent-pulse' }), h('span', {}, 'The agent is working in '), ...mine.map((t) => this.link(t)));
    this.bar.hidden = false;
  }

  /** Names the terminal chips of loaded history (one /api/terminals call covers them all). */
  learnFrom(messages: ChatMessage[]): void {
    for (const m of messages) {
      if (m.kind === 'tool' && m.terminalId && !this.#names.known(m.terminalId)) return void this.learn(m.terminalId);
    }
  }

  async learn(id: string): Promise<void> {
    if (!this.#names.shouldRefresh(id, performance.now())) return;
    try {
      const list = await api<TerminalName[] | { terminals: TerminalName[] }>('GET', '/api/terminals');
      this.#names.replace(Array.isArray(list) ? list : list.terminals);
      for (const a of this.#root().querySelectorAll<HTMLElement>('a.term-chip')) {
        const id = a.dataset.terminal ?? '';
        if (this.#names.known(id)) setText(a, this.#names.name(id));
      }
    } catch {
      // Names are a nicety: the chip keeps the short id.
    }
  }

  dispose(): void {
    this.#disposeStyle.dispose();
  }
}

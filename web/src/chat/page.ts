/**
 * The Chat page: the session list (most recent first; create, rename, delete), one session's
 * conversation (paged from the API, then live from /stream, resumed from the last seq seen), the
 * composer with a cancel button during a turn, and which terminal the agent is working in.
 * A page load never creates a session: the last one opened is remembered in localStorage.
 */
import './chat.css';
import { ApiError, api, errorMessage } from '../api.ts';
import { confirmDialog, promptDialog } from '../dialog.ts';
import { formatAgo, h, setText } from '../dom.ts';
import { DisposableStore, listen, type Disposable } from '../lifecycle.ts';
import { store, stored } from '../storage.ts';
import { toast } from '../toast.ts';
import { renderHelp } from './agent-help.ts';
import { AgentTerminals } from './agent-terminals.ts';
import { MessageList } from './messages.ts';
import { AgentStream, type StreamStatus } from './stream.ts';
import { resumePoint, type AgentState, type ChatSessionInfo, type MessagesPage, type StoredEvent } from './types.ts';

const LAST_SESSION_KEY = 'keel.chat.lastSession';
const PAGE_SIZE = 50;
const MAX_TITLE_CHARS = 200;
/** Sessions listed per page of the sidebar. */
const LIST_PAGE = 50;

/** What GET /api/agent says: whether prompts can run, and what to set when they cannot. */
interface AgentInfo {
  configured: boolean;
  model: string | null;
  help: string;
}
/** Shown in the composer while prompts cannot run. */
const NO_MODEL_PLACEHOLDER = 'No AI model is configured: prompts cannot be sent (see above).';
const PLACEHOLDER = 'Ask the agent… (Enter to send, Shift+Enter for a new line)';

export interface ChatPageOptions {
  /** Called when the open session changes (to keep the address in sync). */
  onActiveChange?: (id: string | undefined) => void;
  /** Whether the chat is the page being shown (it names the window then); default true. */
  ownsTitle?: () => boolean;
}


export class ChatPage implements Disposable {
  readonly element: HTMLElement;
  /** Turn events seen for the open session (a prompt's answer compares it, see send()). */
  #turnEvents = 0;
  readonly #o: ChatPageOptions;
  readonly #store = new DisposableStore();
  /** Everything that belongs to the open session (its stream); cleared when another opens. */
  readonly #session = this.#store.add(new DisposableStore());
  readonly #sessions = new Map<string, ChatSessionInfo>();
  readonly #listEl: HTMLElement;
  readonly #moreSessions: HTMLButtonElement;
  readonly #titleEl: HTMLElement;
  readonly #pill: HTMLElement;
  readonly #banner: HTMLElement;
  readonly #configBanner: HTMLElement;
  readonly #agentTerminals: AgentTerminals;
  readonly #log: HTMLElement;
  readonly #older: HTMLButtonElement;
  readonly #empty: HTMLElement;
  readonly #input: HTMLTextAreaElement;
  readonly #send: HTMLButtonElement;
  readonly #cancel: HTMLButtonElement;
  readonly #formError: HTMLElement;
  readonly #list: MessageList;
  #active: string | undefined;
  #stream: AgentStream | undefined;
  #olderCursor: number | null = null;
  #nextSessions: string | null = null;
  #busy = false;
  #state: AgentState | undefined;
  #sending = false;
  #loadSeq = 0;
  #agent: AgentInfo | undefined;
  #agentLoading: Promise<AgentInfo | undefined> | undefined;
  readonly #renameBtn: HTMLButtonElement;
  readonly #deleteBtn: HTMLButtonElement;

  constructor(o: ChatPageOptions = {}) {
    this.#o = o;
    const newBtn = h('button', { class: 'btn btn-primary btn-small', type: 'button', 'data-testid': 'chat-new' }, '+ New chat');
    this.#store.add(listen(newBtn, 'click', () => void this.create()));
    this.#listEl = h('ul', { class: 'chat-list', 'aria-label': 'Chat sessions', 'data-testid': 'chat-list' });
    this.#moreSessions = h('button', { class: 'btn btn-ghost btn-small chat-more', type: 'button', hidden: true }, 'More…');
    this.#store.add(listen(this.#moreSessions, 'click', () => void this.refresh(true)));
    const side = h('aside', { class: 'chat-side' }, h('div', { class: 'chat-side-head' }, h('h2', {}, 'Chats'), newBtn), this.#listEl, this.#moreSessions);

    const drawerBtn = h('button', { class: 'btn btn-ghost btn-small chat-drawer-btn', type: 'button', 'aria-label': 'Show chats', 'data-testid': 'chat-drawer' }, '☰');
    this.#store.add(listen(drawerBtn, 'click', () => this.element.classList.toggle('drawer-open')));
    const scrim = h('div', { class: 'chat-scrim' });
    this.#store.add(listen(scrim, 'click', () => this.element.classList.remove('drawer-open')));
    this.#titleEl = h('h1', { class: 'chat-title', title: 'Double-click to rename', 'data-testid': 'chat-title' }, 'Chat');
    this.#store.add(listen(this.#titleEl, 'dblclick', () => void this.#rename()));
    this.#pill = h('span', { class: 'pill', 'data-testid': 'chat-stream' }, '');
    const renameBtn = (this.#renameBtn = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-testid': 'chat-rename', disabled: true }, 'Rename'));
    this.#store.add(listen(renameBtn, 'click', () => void this.#rename()));
    const deleteBtn = (this.#deleteBtn = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-testid': 'chat-delete', disabled: true }, 'Delete'));
    this.#store.add(listen(deleteBtn, 'click', () => void this.#delete()));
    const head = h('div', { class: 'chat-head' }, drawerBtn, this.#titleEl, this.#pill, h('span', { class: 'spacer' }), renameBtn, deleteBtn);

    this.#banner = h('div', { class: 'banner banner-warn', hidden: true, 'data-testid': 'chat-banner' });
    this.#configBanner = h('div', { class: 'chat-config', hidden: true, role: 'status', 'data-testid': 'chat-not-configured' });
    this.#agentTerminals = this.#store.add(new AgentTerminals(() => this.element));
    this.#list = this.#store.add(new MessageList({ terminalLink: (id) => this.#agentTerminals.link(id) }));
    this.#older = h('button', { class: 'btn btn-ghost btn-small chat-older', type: 'button', hidden: true }, 'Load older messages');
    this.#store.add(listen(this.#older, 'click', () => void this.#loadOlder()));
    this.#empty = h('div', { class: 'chat-empty' }, h('h2', {}, 'Ask the agent'), h('p', { class: 'muted' }, 'It works in this machine’s terminals: it reads the screen, types and waits, and every step shows here and in every open browser.'));
    this.#log = h('div', { class: 'chat-log', 'data-testid': 'chat-log' }, this.#older, this.#empty, this.#list.element);

    this.#input = h('textarea', { class: 'chat-input', rows: 2, placeholder: PLACEHOLDER, 'aria-label': 'Message', 'data-testid': 'chat-input' });
    this.#send = h('button', { class: 'btn btn-primary', type: 'submit', 'data-testid': 'chat-send' }, 'Send');
    this.#cancel = h('button', { class: 'btn chat-cancel', type: 'button', hidden: true, 'data-testid': 'chat-cancel' }, 'Cancel');
    this.#store.add(listen(this.#cancel, 'click', () => void this.#cancelTurn()));
    this.#formError = h('div', { class: 'chat-form-error', role: 'alert', hidden: true, 'data-testid': 'chat-error' });
    const form = h('form', { class: 'chat-composer' }, this.#formError, h('div', { class: 'chat-compose-row' }, this.#input, h('div', { class: 'chat-actions' }, this.#cancel, this.#send)));
    this.#store.add(
      listen(form, 'submit', (e) => {
        e.preventDefault();
        void this.send();
      }),
    );
    this.#store.add(
      listen(this.#input, 'keydown', (e) => {
        const coarse = matchMedia('(pointer: coarse)').matches;
        // On a phone Enter is a new line (the keyboard has no Shift to spare); Ctrl/Cmd+Enter sends everywhere.
        if (e.key === 'Enter' && !e.isComposing && (e.ctrlKey || e.metaKey || (!e.shiftKey && !coarse))) {
          e.preventDefault();
          void this.send();
        }
      }),
    );

    const main = h('section', { class: 'chat-main' }, head, this.#configBanner, this.#banner, this.#agentTerminals.bar, this.#log, form);
    this.element = h('div', { class: 'chat-page' }, side, scrim, main);
  }

  get activeId(): string | undefined {
    return this.#active;
  }

  /** Lists sessions and opens `wanted`, else the remembered one, else the most recent. Never creates one. */
  async start(wanted?: string): Promise<void> {
    void this.#loadAgent();
    await this.refresh();
    const want = wanted ?? stored(LAST_SESSION_KEY);
    const id = want && this.#sessions.has(want) ? want : want && wanted ? want : [...this.#sessions.keys()][0];
    if (id) await this.open(id);
    else this.#showEmpty();
  }

  /** Reloads the session list (or its next page). */
  async refresh(more = false): Promise<void> {
    try {
      const q = more && this.#nextSessions ? `&before=${encodeURIComponent(this.#nextSessions)}` : '';
      const r = await api<{ sessions: ChatSessionInfo[]; nextBefore: string | null }>('GET', `/api/chat/sessions?limit=${LIST_PAGE}${q}`);
      if (this.#store.disposed) return;
      if (!more) this.#sessions.clear();
      for (const s of r.sessions) this.#sessions.set(s.id, s);
      this.#nextSessions = r.nextBefore;
      this.#moreSessions.hidden = !r.nextBefore;
      this.#renderList();
    } catch (err) {
      toast(`Could not list chats: ${errorMessage(err)}`, 'error');
    }
  }

  async create(): Promise<string | undefined> {
    try {
      const s = await api<ChatSessionInfo>('POST', '/api/chat/sessions', {});
      this.#sessions.set(s.id, s);
      this.#renderList();
      await this.open(s.id);
      this.#input.focus();
      return s.id;
    } catch (err) {
      toast(`Could not create a chat: ${errorMessage(err)}`, 'error');
      return undefined;
    }
  }

  /** Opens a session: its newest page of messages, then its live stream from just before what can still change. */
  async open(id: string): Promise<void> {
    const load = ++this.#loadSeq;
    this.#session.clear();
    this.#stream = undefined;
    this.#active = id;
    this.element.classList.remove('drawer-open');
    store(LAST_SESSION_KEY, id || undefined);
    this.#o.onActiveChange?.(id);
    this.#list.clear();
    this.#setBusy(false);
    this.#formError.hidden = true;
    this.#empty.hidden = true;
    this.#renderList();
    this.#renderTitle();
    let page: MessagesPage;
    try {
      page = await api<MessagesPage>('GET', `/api/chat/sessions/${encodeURIComponent(id)}/messages?limit=${PAGE_SIZE}`);
    } catch (err) {
      if (load !== this.#loadSeq) return;
      if (err instanceof ApiError && err.status === 404) {
        store(LAST_SESSION_KEY, undefined);
        this.#sessions.delete(id);
        this.#renderList();
        toast('That chat no longer exists.', 'info');
        const next = [...this.#sessions.keys()][0];
        if (next) return this.open(next);
        this.#showEmpty();
        return;
      }
      this.#showBanner(`Could not load this chat: ${errorMessage(err)}`, () => void this.open(id));
      return;
    }
    if (load !== this.#loadSeq || this.#store.disposed) return;
    const from = resumePoint(page.messages);
    this.#list.addMessages(page.messages.filter((m) => m.id <= from));
    this.#agentTerminals.learnFrom(page.messages);
    this.#olderCursor = page.nextBefore;
    this.#older.hidden = page.nextBefore === null;
    this.#empty.hidden = page.messages.length > 0;
    this.#scrollToEnd();
    this.#stream = this.#session.add(
      new AgentStream(id, from, {
        onEvent: (ev) => this.#onEvent(ev),
        onState: (s) => this.#onState(s),
        onStatus: (s) => this.#onStatus(s),
      }),
    );
  }

  async send(): Promise<void> {
    const content = this.#input.value;
    if (!content.trim() || this.#sending) return;
    this.#sending = true;
    this.#send.disabled = true;
    this.#formError.hidden = true;
    let created: string | undefined;
    try {
      // Known before anything is created: no model, no prompt, and no empty chat left behind.
      const info = this.#agent ?? (await this.#loadAgent());
      if (info && !info.configured) return;
      let id = this.#active;
      if (!id) id = created = await this.create();
      if (!id) return;
      const turnEvents = this.#turnEvents;
      await api('POST', `/api/chat/sessions/${encodeURIComponent(id)}/messages`, { content });
      if (this.#active === id) this.#input.value = '';
      // Busy until the stream says otherwise; unless the stream was faster than this answer and has
      // already reported the turn (a fast model can start and finish it before the 202 arrives).
      if (this.#active === id && this.#turnEvents === turnEvents) this.#setBusy(true);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'agent_not_configured') {
        // The server knew better than the page: the chat made for this prompt goes again, and the
        // prompt leaves the box (it would otherwise be sent again with the next one), said as not sent.
        if (created) await this.#discard(created);
        this.#input.value = '';
        this.#showFormError(`Not sent: “${content.length > 120 ? `${content.slice(0, 120)}…` : content}”. No AI model is configured.`);
        this.#applyAgent({ configured: false, model: null, help: err.message });
        return;
      }
      // The text stays in the box so nothing the user typed is lost.
      if (err instanceof ApiError && err.status === 409) this.#showFormError(`The agent is busy: ${err.message}`);
      else if (err instanceof ApiError && err.status === 413) this.#showFormError(`Message too large: ${err.message}`);
      else this.#showFormError(errorMessage(err));
    } finally {
      this.#sending = false;
      this.#send.disabled = this.#agent?.configured === false;
    }
  }

  /** Deletes a chat this page just made for a prompt that was refused. */
  async #discard(id: string): Promise<void> {
    try {
      await api('DELETE', `/api/chat/sessions/${encodeURIComponent(id)}`);
    } catch {
      // Already gone, or unreachable: the list below is refreshed either way.
    }
    this.#sessions.delete(id);
    if (this.#active === id) {
      store(LAST_SESSION_KEY, undefined);
      this.#showEmpty();
    }
    this.#renderList();
  }

  /** Asks the server whether prompts can run (once at a time). */
  #loadAgent(): Promise<AgentInfo | undefined> {
    this.#agentLoading ??= (async () => {
      try {
        const info = await api<AgentInfo>('GET', '/api/agent');
        if (!this.#store.disposed) this.#applyAgent(info);
        return info;
      } catch {
        // An older server, or unreachable: prompts are tried and their answer says.
        return undefined;
      } finally {
        this.#agentLoading = undefined;
      }
    })();
    return this.#agentLoading;
  }

  #applyAgent(info: AgentInfo): void {
    const changed = this.#agent?.configured !== info.configured || this.#agent?.help !== info.help;
    this.#agent = info;
    const off = !info.configured;
    this.element.classList.toggle('no-model', off);
    this.#input.disabled = off;
    this.#send.disabled = off || this.#sending;
    this.#input.placeholder = off ? NO_MODEL_PLACEHOLDER : PLACEHOLDER;
    if (!off) {
      this.#configBanner.hidden = true;
      return;
    }
    if (!changed && !this.#configBanner.hidden) return;
    // One banner, rendered once: the server's own help, formatted.
    this.#configBanner.replaceChildren(
      renderHelp(info.help),
      h('div', { class: 'muted small' }, 'Chats, terminals and documents work without one; prompts can be sent once a model is set and Keel restarted.'),
    );
    this.#configBanner.hidden = false;
  }

  async #cancelTurn(): Promise<void> {
    const id = this.#active;
    if (!id) return;
    this.#cancel.disabled = true;
    try {
      await api('POST', `/api/chat/sessions/${encodeURIComponent(id)}/cancel`);
    } catch (err) {
      toast(`Could not cancel: ${errorMessage(err)}`, 'error');
    } finally {
      this.#cancel.disabled = false;
    }
  }

  async #loadOlder(): Promise<void> {
    const id = this.#active;
    const before = this.#olderCursor ?? this.#list.oldestId;
    if (!id || before === undefined || before === null) return;
    this.#older.disabled = true;
    try {
      const page = await api<MessagesPage>('GET', `/api/chat/sessions/${encodeURIComponent(id)}/messages?limit=${PAGE_SIZE}&before=${before}`);
      if (this.#active !== id) return;
      const prevHeight = this.#log.scrollHeight;
      this.#list.addMessages(page.messages);
      this.#agentTerminals.learnFrom(page.messages);
      this.#olderCursor = page.nextBefore;
      this.#older.hidden = page.nextBefore === null;
      // Keep what the user was reading where it was.
      this.#log.scrollTop += this.#log.scrollHeight - prevHeight;
    } catch (err) {
      toast(`Could not load older messages: ${errorMessage(err)}`, 'error');
    } finally {
      this.#older.disabled = false;
    }
  }

  async #rename(): Promise<void> {
    const id = this.#active;
    const s = id ? this.#sessions.get(id) : undefined;
    if (!id) return;
    const title = await promptDialog({ title: 'Rename chat', label: 'Title', value: s?.title ?? '', maxLength: MAX_TITLE_CHARS, confirm: 'Rename', testId: 'rename-dialog' });
    if (!title || title === s?.title || this.#active !== id) return;
    try {
      const upd = await api<ChatSessionInfo>('PATCH', `/api/chat/sessions/${encodeURIComponent(id)}`, { title });
      this.#sessions.set(id, upd);
      this.#renderList();
      this.#renderTitle();
    } catch (err) {
      toast(`Could not rename: ${errorMessage(err)}`, 'error');
    }
  }

  async #delete(): Promise<void> {
    const id = this.#active;
    if (!id) return;
    const title = this.#sessions.get(id)?.title ?? 'this chat';
    if (!(await confirmDialog({ title: 'Delete this chat?', message: `“${title}” and its history are deleted. A running turn is cancelled.`, confirm: 'Delete', danger: true, testId: 'delete-dialog' }))) return;
    if (this.#active !== id) return;
    try {
      await api('DELETE', `/api/chat/sessions/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        toast(`Could not delete: ${errorMessage(err)}`, 'error');
        return;
      }
    }
    this.#sessions.delete(id);
    store(LAST_SESSION_KEY, undefined);
    const next = [...this.#sessions.keys()][0];
    if (next) await this.open(next);
    else this.#showEmpty();
    this.#renderList();
  }

  #showEmpty(): void {
    this.#loadSeq++;
    this.#session.clear();
    this.#stream = undefined;
    this.#active = undefined;
    this.#o.onActiveChange?.(undefined);
    this.#list.clear();
    this.#empty.hidden = false;
    this.#older.hidden = true;
    this.#banner.hidden = true;
    this.#setBusy(false);
    this.#renderTitle();
    this.#renderList();
  }

  #onEvent(ev: StoredEvent): void {
    if (ev.sessionId !== this.#active) return;
    const stick = this.#nearBottom();
    this.#empty.hidden = true;
    this.#list.applyEvent(ev);
    const p = ev.payload;
    if (p.type === 'turn') {
      this.#turnEvents++;
      this.#setBusy(p.state === 'started');
      // A first prompt names the session: pick up the new title and order.
      if (p.state === 'started') void this.refresh();
    }
    if (p.type === 'tool_call' && p.terminalId) void this.#agentTerminals.learn(p.terminalId);
    if (stick) this.#scrollToEnd();
  }

  #onState(s: AgentState): void {
    this.#state = s;
    if (this.#active) this.#setBusy(s.busySessions.includes(this.#active));
    // The server's state changed its mind (a restart with or without a model): ask what to show.
    if (this.#agent && s.configured !== this.#agent.configured) void this.#loadAgent();
    this.#agentTerminals.render(this.#state, this.#active);
  }

  #onStatus(s: StreamStatus): void {
    const label = s.state === 'live' ? 'live' : s.state === 'connecting' ? 'connecting' : s.state === 'reconnecting' ? 'reconnecting' : s.state === 'limited' ? 'limited' : 'offline';
    this.#pill.className = `pill pill-${s.state === 'failed' ? 'failed' : s.state}`;
    setText(this.#pill, label);
    if (s.state === 'limited' || s.state === 'failed') {
      this.#showBanner(`${s.message} Retrying in ${Math.ceil(s.retryInMs / 1000)} s.`, () => this.#stream?.retryNow());
    } else if (s.state === 'live') this.#banner.hidden = true;
  }

  #showBanner(text: string, retry?: () => void): void {
    const btn = retry ? h('button', { class: 'btn btn-small', type: 'button' }, 'Retry now') : null;
    if (btn && retry) btn.addEventListener('click', retry, { once: true });
    this.#banner.replaceChildren(h('span', { class: 'banner-text' }, text), ...(btn ? [btn] : []));
    this.#banner.hidden = false;
  }

  #showFormError(text: string): void {
    setText(this.#formError, text);
    this.#formError.hidden = false;
  }

  #setBusy(busy: boolean): void {
    this.#busy = busy;
    this.#cancel.hidden = !busy;
    this.element.classList.toggle('agent-busy', busy);
    this.#renderList();
  }

  #renderTitle(): void {
    const s = this.#active ? this.#sessions.get(this.#active) : undefined;
    setText(this.#titleEl, s?.title ?? (this.#active ? 'Chat' : 'No chat open'));
    // Nothing to rename or delete with no chat open.
    this.#renameBtn.disabled = this.#deleteBtn.disabled = !this.#active;
    if (this.#o.ownsTitle?.() ?? true) document.title = s ? `${s.title} · Chat · Keel` : 'Chat · Keel';
  }

  #renderList(): void {
    const items = [...this.#sessions.values()].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
    const nodes = items.map((s) => {
      const busy = s.id === this.#active ? this.#busy : (this.#state?.busySessions.includes(s.id) ?? s.busy);
      const li = h(
        'li',
        { class: `chat-item${s.id === this.#active ? ' active' : ''}`, 'data-id': s.id },
        h('a', { href: `#/chat/${encodeURIComponent(s.id)}`, class: 'chat-item-link' }, h('span', { class: 'chat-item-title' }, s.title), h('span', { class: 'chat-item-meta muted small' }, busy ? 'working…' : formatAgo(s.updatedAt))),
      );
      return li;
    });
    this.#listEl.replaceChildren(...nodes);
    if (nodes.length === 0) this.#listEl.append(h('li', { class: 'chat-list-empty muted small' }, 'No chats yet.'));
    this.#renderTitle();
  }

  #nearBottom(): boolean {
    const l = this.#log;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  }

  /** Scrolls to the newest message after this frame's paint (callers decide whether the user was at the end). */
  #scrollToEnd(): void {
    requestAnimationFrame(() => {
      this.#log.scrollTop = this.#log.scrollHeight;
    });
  }

  /** Read-only view for the browser tests. */
  snapshot(): { active?: string; busy: boolean; lastSeq?: number; messages: { kind: string; text: string }[] } {
    return { active: this.#active, busy: this.#busy, lastSeq: this.#stream?.lastSeq, messages: this.#list.texts() };
  }

  setVisible(visible: boolean): void {
    if (visible) this.#scrollToEnd();
  }

  dispose(): void {
    this.#store.dispose();
  }
}

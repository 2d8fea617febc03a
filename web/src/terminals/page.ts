/**
 * The Terminals page: a tab per terminal session (create, rename, close), the active terminal, the
 * "reopen previous tabs" offer, and the phone key bar. Sessions live on the server, so a reload or a
 * second device lists the same tabs; only which one is active is kept in the page's address.
 */
import { ApiError, api, errorMessage } from '../api.ts';
import { confirmDialog } from '../dialog.ts';
import { h, setText } from '../dom.ts';
import { DisposableStore, Timer, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import { toast } from '../toast.ts';
import type { ConnectionStatus, ProbeResult } from './connection.ts';
import { showTerminalHelp } from './help.ts';
import { KeyBar } from './keybar.ts';
import { SharePanel } from './share.ts';
import type { PreviousTerminal, TerminalInfo } from './types.ts';
import { TerminalView } from './view.ts';

/** Long-press on a tab (touch) starts renaming after this long. */
const LONG_PRESS_MS = 550;
/** Names longer than the server accepts are cut here (docs/protocol.md: 100 characters). */
const MAX_NAME_CHARS = 100;
/** After a tab finds its terminal gone, wait this long for the others (a restart ends them all at once) before asking the server what is left. */
const GONE_SETTLE_MS = 300;

interface Tab {
  info: TerminalInfo;
  view: TerminalView;
  tabEl: HTMLElement;
  labelEl: HTMLElement;
  dotEl: HTMLElement;
  store: DisposableStore;
}

export interface TerminalsPageOptions {
  /** Read-only viewer of one shared terminal: no REST calls, no tab management. */
  share?: { id: string; share: string };
  /** Called when the active tab changes (to keep the address in sync). */
  onActiveChange?: (id: string | undefined) => void;
}

export class TerminalsPage implements Disposable {
  readonly element: HTMLElement;
  readonly #o: TerminalsPageOptions;
  readonly #store = new DisposableStore();
  readonly #tabs = new Map<string, Tab>();
  readonly #tabList: HTMLElement;
  readonly #views: HTMLElement;
  readonly #empty: HTMLElement;
  readonly #restore: HTMLElement;
  readonly #shareBtn: HTMLButtonElement;
  readonly #share = this.#store.add(new SharePanel());
  readonly #keybar: KeyBar;
  readonly #longPress = this.#store.add(new Timer());
  readonly #goneCheck = this.#store.add(new Timer());
  readonly #closing = new Set<string>();
  #active: string | undefined;
  #wantedActive: string | undefined;
  #creating = false;
  #refreshing: Promise<void> | undefined;

  constructor(o: TerminalsPageOptions = {}) {
    this.#o = o;
    this.#tabList = h('div', { class: 'tab-list', role: 'tablist', 'aria-label': 'Terminals' });
    const newBtn = h('button', { class: 'btn tab-new', type: 'button', title: 'New terminal', 'aria-label': 'New terminal', 'data-testid': 'new-terminal' }, '+');
    this.#store.add(listen(newBtn, 'click', () => void this.create()));
    this.#shareBtn = h('button', { class: 'btn btn-ghost share-btn', type: 'button', title: 'Create a read-only link to this terminal, copy it, and list its links', 'data-testid': 'share' }, 'Share');
    this.#store.add(listen(this.#shareBtn, 'click', () => this.#active && void this.#share.share(this.#active)));
    const helpBtn = h('button', { class: 'btn btn-ghost tab-help', type: 'button', title: 'Terminal keys (copy, paste, leaving the terminal) and settings', 'aria-label': 'Terminal keys and settings', 'data-testid': 'terminal-help' }, 'Keys');
    this.#store.add(listen(helpBtn, 'click', () => void showTerminalHelp()));
    this.#restore = h('div', { class: 'restore', hidden: true, role: 'region', 'aria-label': 'Previous tabs' });
    this.#empty = h(
      'div',
      { class: 'empty', hidden: true },
      h('h2', {}, 'No terminals open'),
      h('p', { class: 'muted' }, 'A terminal is a shell on this machine. It keeps running when you close the page, and every device you open Keel on sees it.'),
    );
    const emptyBtn = h('button', { class: 'btn btn-primary', type: 'button' }, 'New terminal');
    this.#store.add(listen(emptyBtn, 'click', () => void this.create()));
    this.#empty.append(emptyBtn);
    this.#views = h('div', { class: 'term-views' }, this.#empty);
    this.#keybar = this.#store.add(new KeyBar(() => this.activeView));

    const bar = o.share
      ? h('div', { class: 'tabbar' }, this.#tabList, h('span', { class: 'spacer' }), helpBtn)
      : h('div', { class: 'tabbar' }, this.#tabList, newBtn, h('span', { class: 'spacer' }), this.#shareBtn, helpBtn);
    this.element = h('div', { class: `terminals-page${o.share ? ' viewer-mode' : ''}` }, bar, o.share ? null : this.#share.element, this.#restore, this.#views, this.#keybar.element);

    if (!o.share) {
      // Another device may have opened or closed tabs while this one was in the background.
      this.#store.add(listen(document, 'visibilitychange', () => document.visibilityState === 'visible' && void this.refresh()));
    }
    this.#store.add(toDisposable(() => {
      for (const t of this.#tabs.values()) t.store.dispose();
      this.#tabs.clear();
    }));
  }

  get activeView(): TerminalView | undefined {
    return this.#active ? this.#tabs.get(this.#active)?.view : undefined;
  }

  get activeId(): string | undefined {
    return this.#active;
  }

  tabs(): { id: string; name: string; state: string; role: string | undefined; active: boolean }[] {
    return [...this.#tabs.values()].map((t) => ({ id: t.info.id, name: t.info.name, state: t.view.status.state, role: t.view.meta.role, active: t.info.id === this.#active }));
  }

  view(id?: string): TerminalView | undefined {
    return id ? this.#tabs.get(id)?.view : this.activeView;
  }

  /** Loads the tabs and the restore offer. */
  async start(activeId?: string): Promise<void> {
    this.#wantedActive = activeId;
    if (this.#o.share) {
      const { id, share } = this.#o.share;
      this.#addTab({ id, name: 'Shared terminal', cols: 80, rows: 24, cwd: '', command: null, createdAt: '' }, `/api/terminals/${encodeURIComponent(id)}/ws?share=${encodeURIComponent(share)}`);
      this.activate(id);
      return;
    }
    await this.refresh();
    void this.#offerRestore();
  }

  /** Syncs the tab list with the server's sessions. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const { terminals } = await api<{ terminals: TerminalInfo[] }>('GET', '/api/terminals');
        const seen = new Set<string>();
        for (const info of terminals) {
          seen.add(info.id);
          const tab = this.#tabs.get(info.id);
          if (tab) this.#setInfo(tab, info);
          else this.#addTab(info);
        }
        // Tabs whose session is gone stay (showing why) until the user closes them, unless they never connected.
        for (const [id, t] of this.#tabs) if (!seen.has(id) && t.view.status.state === 'connecting') this.#removeTab(id);
        const want = this.#wantedActive && this.#tabs.has(this.#wantedActive) ? this.#wantedActive : this.#active && this.#tabs.has(this.#active) ? this.#active : this.#tabs.keys().next().value;
        this.#wantedActive = undefined;
        this.activate(want);
      } catch (err) {
        toast(`Could not list terminals: ${errorMessage(err)}`, 'error');
      } finally {
        this.#refreshing = undefined;
        this.#updateEmpty();
      }
    })();
    return this.#refreshing;
  }

  /** Opens a new terminal sized to the visible area. */
  async create(): Promise<TerminalView | undefined> {
    if (this.#creating || this.#o.share) return undefined;
    this.#creating = true;
    try {
      const { cols, rows } = this.#estimateSize();
      const info = await api<TerminalInfo>('POST', '/api/terminals', { cols, rows });
      const tab = this.#tabs.get(info.id) ?? this.#addTab(info);
      this.activate(info.id);
      tab.view.focus();
      return tab.view;
    } catch (err) {
      toast(err instanceof ApiError && err.code === 'too_many_connections' ? `Too many connections: ${err.message}` : errorMessage(err), 'error');
      return undefined;
    } finally {
      this.#creating = false;
      this.#updateEmpty();
    }
  }

  activate(id: string | undefined): void {
    if (id !== undefined && !this.#tabs.has(id)) id = undefined;
    const changed = id !== this.#active;
    this.#active = id;
    for (const [tid, t] of this.#tabs) {
      const on = tid === id;
      t.tabEl.classList.toggle('active', on);
      t.tabEl.setAttribute('aria-selected', String(on));
      t.tabEl.tabIndex = on ? 0 : -1;
      t.view.setVisible(on);
    }
    if (id) {
      this.#tabs.get(id)!.tabEl.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      if (matchMedia('(pointer: fine)').matches) this.#tabs.get(id)!.view.focus();
    }
    this.#updateShare();
    this.#updateEmpty();
    if (changed) this.#o.onActiveChange?.(id);
  }

  async close(id: string): Promise<void> {
    const tab = this.#tabs.get(id);
    if (!tab || this.#closing.has(id)) return;
    this.#closing.add(id);
    try {
      if (!this.#o.share && !tab.view.exited && tab.view.status.state !== 'closed') {
        if (!(await this.#confirmClose(tab))) return;
        try {
          await api('DELETE', `/api/terminals/${encodeURIComponent(id)}`);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) {
            toast(errorMessage(err), 'error');
            return;
          }
        }
      }
      const ids = [...this.#tabs.keys()];
      const i = ids.indexOf(id);
      this.#removeTab(id);
      if (this.#active === id || this.#active === undefined) this.activate(ids[i + 1] ?? ids[i - 1]);
      this.#updateEmpty();
    } finally {
      this.#closing.delete(id);
    }
  }

  /**
   * Closing ends everything the terminal runs: when a program is in the foreground (the server
   * reads it when asked, docs/protocol.md `foreground`), ask first, in the page (VS Code asks too).
   */
  async #confirmClose(tab: Tab): Promise<boolean> {
    let fg: string | null | undefined;
    try {
      fg = (await api<TerminalInfo>('GET', `/api/terminals/${encodeURIComponent(tab.info.id)}`)).foreground;
    } catch {
      // Gone already (404): nothing to end. Unreachable: the DELETE that follows says so.
      return true;
    }
    if (!fg) return true;
    const message = h('span', {}, h('code', {}, fg), ` is still running in “${tab.info.name}”. Closing the tab ends it and everything else this terminal started.`);
    return confirmDialog({ title: 'Close this terminal?', message, confirm: `Close and end ${fg}`, danger: true, testId: 'close-dialog' });
  }

  async rename(id: string, name: string): Promise<void> {
    const tab = this.#tabs.get(id);
    const clean = name.trim().slice(0, MAX_NAME_CHARS);
    if (!tab || !clean || clean === tab.info.name) return;
    try {
      const info = await api<TerminalInfo>('PATCH', `/api/terminals/${encodeURIComponent(id)}`, { name: clean });
      this.#setInfo(tab, info);
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  // --- tabs ------------------------------------------------------------------------------------

  #addTab(info: TerminalInfo, wsPath = `/api/terminals/${encodeURIComponent(info.id)}/ws`): Tab {
    const store = new DisposableStore();
    const dotEl = h('span', { class: 'dot dot-connecting', 'aria-hidden': 'true' });
    const labelEl = h('span', { class: 'tab-label' }, info.name);
    const closeBtn = h('button', { class: 'tab-close', type: 'button', title: 'Close terminal', 'aria-label': `Close ${info.name}` }, '×');
    const tabEl = h('div', { class: 'tab', role: 'tab', 'data-id': info.id, title: 'Double-click (or long-press) to rename' }, dotEl, labelEl, this.#o.share ? null : closeBtn);
    const id = info.id;
    const view = store.add(
      new TerminalView({
        id,
        wsPath,
        cols: info.cols,
        rows: info.rows,
        inputFilter: (d) => this.#keybar.filter(d),
        probe: () => this.#probe(wsPath),
        onStatus: (s) => this.#onStatus(id, s),
        onMeta: (m) => {
          const t = this.#tabs.get(id);
          if (t && typeof m.name === 'string' && m.name !== t.info.name) this.#setInfo(t, { ...t.info, name: m.name });
          if (id === this.#active) this.#updateShare();
        },
        onCloseRequest: () => void this.close(id),
        onLeave: () => this.#tabs.get(id)?.tabEl.focus(),
      }),
    );
    this.#views.append(view.element);
    store.add(listen(tabEl, 'click', (e) => {
      if ((e.target as HTMLElement).closest('.tab-close, input')) return;
      this.activate(id);
    }));
    store.add(listen(tabEl, 'keydown', (e) => this.#tabKey(e, id)));
    store.add(listen(closeBtn, 'click', (e) => {
      e.stopPropagation();
      void this.close(id);
    }));
    if (!this.#o.share) {
      store.add(listen(tabEl, 'dblclick', (e) => {
        if ((e.target as HTMLElement).closest('.tab-close')) return;
        this.#startRename(id);
      }));
      store.add(listen(tabEl, 'pointerdown', (e) => {
        if (e.pointerType === 'mouse' || (e.target as HTMLElement).closest('.tab-close, input')) return;
        this.#longPress.set(() => this.#startRename(id), LONG_PRESS_MS);
      }));
      const cancel = () => this.#longPress.cancel();
      store.add(listen(tabEl, 'pointerup', cancel));
      store.add(listen(tabEl, 'pointercancel', cancel));
      store.add(listen(tabEl, 'pointerleave', cancel));
      // Long-press on phones would otherwise open the context menu / text selection.
      store.add(listen(tabEl, 'contextmenu', (e) => e.pointerType !== 'mouse' && e.preventDefault()));
    }
    store.add(toDisposable(() => tabEl.remove()));
    this.#tabList.append(tabEl);
    const tab: Tab = { info, view, tabEl, labelEl, dotEl, store };
    this.#tabs.set(id, tab);
    return tab;
  }

  #removeTab(id: string): void {
    const t = this.#tabs.get(id);
    if (!t) return;
    this.#tabs.delete(id);
    t.store.dispose();
  }

  #setInfo(tab: Tab, info: TerminalInfo): void {
    tab.info = { ...tab.info, ...info };
    setText(tab.labelEl, tab.info.name);
    tab.tabEl.querySelector('.tab-close')?.setAttribute('aria-label', `Close ${tab.info.name}`);
    if (tab.info.id === this.#active) this.#updateShare();
  }

  #onStatus(id: string, s: ConnectionStatus): void {
    const t = this.#tabs.get(id);
    if (!t) return;
    const was = t.tabEl.dataset.state;
    t.dotEl.className = `dot dot-${s.state}`;
    t.tabEl.dataset.state = s.state;
    // Its terminal is gone (closed elsewhere, or Keel restarted): the server may offer the previous run's tabs.
    if (s.state === 'closed' && was !== 'closed' && !this.#o.share) this.#goneCheck.set(() => void this.#afterGone(), GONE_SETTLE_MS);
  }

  /** Picks up what changed on the server and offers the previous run's tabs, without a reload. */
  async #afterGone(): Promise<void> {
    await this.refresh();
    if (this.#restore.hidden) await this.#offerRestore();
  }

  #tabKey(e: KeyboardEvent, id: string): void {
    if ((e.target as HTMLElement).tagName === 'INPUT') return;
    const ids = [...this.#tabs.keys()];
    const i = ids.indexOf(id);
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = ids[(i + (e.key === 'ArrowRight' ? 1 : ids.length - 1)) % ids.length];
      this.activate(next);
      if (next) this.#tabs.get(next)?.tabEl.focus();
      e.preventDefault();
    } else if (e.key === 'F2' || e.key === 'Enter') {
      this.#startRename(id);
      e.preventDefault();
    } else if (e.key === 'Delete') {
      void this.close(id);
    }
  }

  #startRename(id: string): void {
    const t = this.#tabs.get(id);
    if (!t || t.tabEl.querySelector('input')) return;
    const input = h('input', { class: 'tab-rename', type: 'text', maxlength: MAX_NAME_CHARS, 'aria-label': 'Terminal name', value: t.info.name });
    input.value = t.info.name;
    t.labelEl.hidden = true;
    t.labelEl.after(input);
    input.focus();
    input.select();
    let done = false;
    const finish = (commit: boolean) => {
      if (done) return;
      done = true;
      const v = input.value;
      input.remove();
      t.labelEl.hidden = false;
      if (commit) void this.rename(id, v);
      if (id === this.#active) t.view.focus();
    };
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Enter') finish(true);
      else if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('blur', () => finish(true), { once: true });
  }

  // --- helpers ---------------------------------------------------------------------------------

  #updateEmpty(): void {
    const none = this.#tabs.size === 0;
    this.#empty.hidden = !none || this.#o.share !== undefined;
    this.element.classList.toggle('no-tabs', none);
  }

  #updateShare(): void {
    this.#shareBtn.hidden = this.#o.share !== undefined || !this.#active;
    // The panel shows one terminal's links: it closes when another tab becomes active.
    if (this.#share.terminalId !== undefined && this.#share.terminalId !== this.#active) this.#share.hide();
  }

  /** Size for a new terminal: what the visible terminal fits, else an estimate from the area. */
  #estimateSize(): { cols: number; rows: number } {
    const v = this.activeView;
    if (v && v.term.cols > 1) return { cols: v.term.cols, rows: v.term.rows };
    const w = this.#views.clientWidth || 800;
    const hgt = (this.#views.clientHeight || 480) - 28;
    return { cols: Math.max(20, Math.min(500, Math.floor((w - 16) / 8.4))), rows: Math.max(5, Math.min(200, Math.floor(hgt / 17))) };
  }

  /**
   * After a close without a close frame (a refused upgrade looks like that to a page): asks the
   * socket's URL over plain HTTP, where the server's admission check answers with its JSON error
   * (404 terminal_not_found, 401 unauthorized, 503 too_many_connections / overloaded).
   */
  async #probe(wsPath: string): Promise<ProbeResult> {
    const res = await fetch(wsPath, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (res.ok) return {};
    let body: { error?: string; message?: string } = {};
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // Admitted (no JSON error): the socket itself failed; keep retrying.
      return {};
    }
    if (body.error === 'terminal_not_found') return { gone: true, message: 'This terminal no longer exists: it exited, was closed elsewhere, or Keel restarted.' };
    if (res.status === 401) return { gone: true, message: this.#o.share ? 'This share link is not valid (any more).' : body.message };
    if (res.status === 503) return { limit: body.error === 'too_many_connections', message: body.message };
    return { message: body.message };
  }

  async #offerRestore(): Promise<void> {
    let prev: PreviousTerminal[];
    try {
      prev = (await api<{ terminals: PreviousTerminal[] }>('GET', '/api/terminals/previous')).terminals ?? [];
    } catch {
      return; // Older server or no store: nothing to offer.
    }
    if (!prev.length || this.#store.disposed) return;
    const names = prev.slice(0, 4).map((p) => p.name).join(', ') + (prev.length > 4 ? `, +${prev.length - 4}` : '');
    const reopen = h('button', { class: 'btn btn-primary btn-small', type: 'button', 'data-testid': 'restore-yes' }, 'Reopen');
    const dismiss = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-testid': 'restore-no' }, 'Dismiss');
    this.#restore.replaceChildren(
      h('span', { class: 'restore-text' }, `${prev.length} tab${prev.length === 1 ? ' was' : 's were'} open when Keel last stopped: `, h('strong', {}, names), '. Reopen as new shells in the same directories?'),
      reopen,
      dismiss,
    );
    this.#restore.hidden = false;
    reopen.addEventListener('click', async () => {
      reopen.disabled = dismiss.disabled = true;
      try {
        const r = await api<{ terminals: TerminalInfo[]; failed?: { id: string; message: string }[] }>('POST', '/api/terminals/restore', {});
        // Tabs of this page still showing a terminal of the previous run give way to the new shells.
        for (const p of prev) {
          const old = this.#tabs.get(p.id);
          if (old && (old.view.status.state === 'closed' || old.view.status.state === 'failed')) this.#removeTab(p.id);
        }
        for (const info of r.terminals) if (!this.#tabs.has(info.id)) this.#addTab(info);
        if (r.terminals[0]) this.activate(r.terminals[0].id);
        for (const f of r.failed ?? []) toast(`Could not reopen a tab: ${f.message}`, 'error');
        this.#restore.hidden = true;
      } catch (err) {
        toast(errorMessage(err), 'error');
        reopen.disabled = dismiss.disabled = false;
      }
      this.#updateEmpty();
    });
    dismiss.addEventListener('click', async () => {
      this.#restore.hidden = true;
      try {
        await api('DELETE', '/api/terminals/previous');
      } catch (err) {
        toast(errorMessage(err), 'error');
      }
    });
  }

  dispose(): void {
    this.#store.dispose();
    this.element.remove();
  }
}

/**
 * The Docs page: the documents list (create, rename, delete), and the open document's editor with
 * who is here, the lock button (take / release; holder and until when) and the connection state.
 * The editor (CodeMirror + Yjs) is loaded on first open, so the rest of Keel stays light.
 */
import './docs.css';
import { ApiError, api, errorMessage } from '../api.ts';
import { confirmDialog, promptDialog } from '../dialog.ts';
import { formatAgo, h, setText } from '../dom.ts';
import { DisposableStore, interval, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import { store, stored } from '../storage.ts';
import { toast } from '../toast.ts';
import type { DocEditor, DocLock, EditorConnection, Peer } from './editor.ts';
import { peerLabels } from './presence.ts';

export interface DocInfo {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
  bytes: number;
  loaded: boolean;
  connections: number;
  lock: DocLock | null;
}

const NAME_KEY = 'keel.name';
const LAST_DOC_KEY = 'keel.docs.lastDoc';
const MAX_TITLE_CHARS = 200;
const MAX_NAME_CHARS = 40;
const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f778ba', '#bc8cff', '#39c5cf', '#ff7b72', '#e3b341'];

/** The name shown beside this browser's cursor; asked once, kept in localStorage. */
export function displayName(): string {
  let n = stored(NAME_KEY);
  if (!n) {
    n = `Guest ${Math.floor(100 + Math.random() * 900)}`;
    store(NAME_KEY, n);
  }
  return n.slice(0, MAX_NAME_CHARS);
}

export function colorFor(name: string): string {
  let x = 0;
  for (const c of name) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return COLORS[x % COLORS.length]!;
}

function timeOf(iso: string): string {
  const d = new Date(iso);
  return Number.isFinite(d.getTime()) ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : iso;
}

export interface DocsPageOptions {
  onActiveChange?: (id: string | undefined) => void;
}

export class DocsPage implements Disposable {
  readonly element: HTMLElement;
  readonly #o: DocsPageOptions;
  readonly #store = new DisposableStore();
  readonly #open = this.#store.add(new DisposableStore());
  readonly #docs = new Map<string, DocInfo>();
  readonly #listEl: HTMLElement;
  readonly #titleEl: HTMLElement;
  readonly #pill: HTMLElement;
  readonly #peersEl: HTMLElement;
  readonly #lockBtn: HTMLButtonElement;
  readonly #banner: HTMLElement;
  readonly #host: HTMLElement;
  readonly #empty: HTMLElement;
  readonly #nameBtn: HTMLButtonElement;
  readonly #head: HTMLElement;
  readonly #exportLink: HTMLAnchorElement;
  #active: string | undefined;
  #editor: DocEditor | undefined;
  #openSeq = 0;

  constructor(o: DocsPageOptions = {}) {
    this.#o = o;
    const newBtn = h('button', { class: 'btn btn-primary btn-small', type: 'button', 'data-testid': 'doc-new' }, '+ New');
    this.#store.add(listen(newBtn, 'click', () => void this.create()));
    this.#listEl = h('ul', { class: 'doc-list', 'aria-label': 'Documents', 'data-testid': 'doc-list' });
    this.#nameBtn = h('button', { class: 'btn btn-ghost btn-small doc-name', type: 'button', title: 'The name others see beside your cursor', 'data-testid': 'doc-my-name' }, `You: ${displayName()}`);
    this.#store.add(listen(this.#nameBtn, 'click', () => void this.#changeName()));
    const side = h('aside', { class: 'doc-side' }, h('div', { class: 'doc-side-head' }, h('h2', {}, 'Documents'), newBtn), this.#listEl, this.#nameBtn);

    const drawerBtn = h('button', { class: 'btn btn-ghost btn-small doc-drawer-btn', type: 'button', 'aria-label': 'Show documents', 'data-testid': 'doc-drawer' }, '☰');
    this.#store.add(listen(drawerBtn, 'click', () => this.element.classList.toggle('drawer-open')));
    const scrim = h('div', { class: 'doc-scrim' });
    this.#store.add(listen(scrim, 'click', () => this.element.classList.remove('drawer-open')));
    this.#titleEl = h('h1', { class: 'doc-title', title: 'Double-click to rename', 'data-testid': 'doc-title' }, 'Documents');
    this.#store.add(listen(this.#titleEl, 'dblclick', () => void this.#rename()));
    this.#pill = h('span', { class: 'pill', 'data-testid': 'doc-connection' }, '');
    this.#peersEl = h('div', { class: 'doc-peers', 'data-testid': 'doc-peers' });
    this.#lockBtn = h('button', { class: 'btn btn-small doc-lock-btn', type: 'button', 'data-testid': 'doc-lock' }, 'Lock');
    this.#store.add(listen(this.#lockBtn, 'click', () => this.#toggleLock()));
    const menu = h('div', { class: 'doc-actions' });
    const renameBtn = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-testid': 'doc-rename' }, 'Rename');
    this.#store.add(listen(renameBtn, 'click', () => void this.#rename()));
    const exportLink = (this.#exportLink = h('a', { class: 'btn btn-ghost btn-small', 'data-testid': 'doc-export' }, 'Export'));
    const deleteBtn = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-testid': 'doc-delete' }, 'Delete');
    this.#store.add(listen(deleteBtn, 'click', () => void this.#delete()));
    menu.append(renameBtn, exportLink, deleteBtn);
    this.#head = h('div', { class: 'doc-head' }, drawerBtn, this.#titleEl, this.#pill, h('span', { class: 'spacer' }), this.#peersEl, this.#lockBtn, menu);
    this.#banner = h('div', { class: 'doc-banner', hidden: true, 'data-testid': 'doc-banner' });
    this.#host = h('div', { class: 'doc-editor', 'data-testid': 'doc-editor' });
    this.#empty = h('div', { class: 'chat-empty doc-empty' }, h('h2', {}, 'Shared documents'), h('p', { class: 'muted' }, 'Plans, runbooks and notes, edited together live next to the terminals. Create one, or pick one from the list.'));
    const main = h('section', { class: 'doc-main' }, this.#head, this.#banner, this.#host, this.#empty);
    this.element = h('div', { class: 'docs-page' }, side, scrim, main);
    this.#setHeadVisible(false);
    // "until 12:05" and "3m ago" stay true without a server round trip.
    this.#store.add(interval(() => this.#renderLock(), 30_000));
    this.#store.add(
      listen(document, 'visibilitychange', () => {
        if (document.visibilityState === 'visible') void this.refresh();
      }),
    );
  }

  get activeId(): string | undefined {
    return this.#active;
  }
  get editor(): DocEditor | undefined {
    return this.#editor;
  }

  async start(wanted?: string): Promise<void> {
    await this.refresh();
    const want = wanted ?? stored(LAST_DOC_KEY);
    const id = want && (this.#docs.has(want) || wanted) ? want : undefined;
    if (id) await this.open(id);
  }

  async refresh(): Promise<void> {
    try {
      const r = await api<{ documents: DocInfo[] }>('GET', '/api/docs');
      if (this.#store.disposed) return;
      this.#docs.clear();
      for (const d of r.documents) this.#docs.set(d.id, d);
      this.#renderList();
    } catch (err) {
      toast(`Could not list documents: ${errorMessage(err)}`, 'error');
    }
  }

  async create(): Promise<void> {
    const title = await promptDialog({ title: 'New document', label: 'Title', value: 'Untitled', maxLength: MAX_TITLE_CHARS, confirm: 'Create', testId: 'new-doc-dialog' });
    if (!title) return;
    try {
      const d = await api<DocInfo>('POST', '/api/docs', { title });
      this.#docs.set(d.id, d);
      this.#renderList();
      await this.open(d.id);
    } catch (err) {
      toast(`Could not create the document: ${errorMessage(err)}`, 'error');
    }
  }

  async open(id: string): Promise<void> {
    const seq = ++this.#openSeq;
    this.#open.clear();
    this.#editor = undefined;
    this.#active = id;
    store(LAST_DOC_KEY, id);
    this.#o.onActiveChange?.(id);
    this.element.classList.remove('drawer-open');
    this.#host.replaceChildren();
    this.#empty.hidden = true;
    this.#setHeadVisible(true);
    this.#banner.hidden = true;
    this.#peersEl.replaceChildren();
    const info = this.#docs.get(id);
    setText(this.#titleEl, info?.title ?? 'Document');
    this.#renderList();
    this.#onConnection('connecting');
    this.#exportLink.href = `/api/docs/${encodeURIComponent(id)}/export?format=md`;
    let mod: typeof import('./editor.ts');
    try {
      mod = await import('./editor.ts');
    } catch (err) {
      this.#showBanner('error', `Could not load the editor: ${errorMessage(err)}. Reload the page.`);
      return;
    }
    if (seq !== this.#openSeq || this.#store.disposed) return;
    const name = displayName();
    this.#editor = this.#open.add(
      new mod.DocEditor({
        id,
        user: { name, color: colorFor(name) },
        parent: this.#host,
        onConnection: (s, detail) => this.#onConnection(s, detail),
        onLock: () => this.#renderLock(),
        onRefused: (reason, message) => {
          if (reason === 'lock_held' || reason === 'locked') this.#renderLock();
          toast(message, reason === 'rate_limited' ? 'info' : 'error');
        },
        onTitle: (title) => {
          setText(this.#titleEl, title);
          const d = this.#docs.get(id);
          if (d && d.title !== title) {
            d.title = title;
            this.#renderList();
          }
        },
        onPeers: (peers) => this.#renderPeers(peers),
        onFatal: (code, message) => {
          this.#showBanner('error', message);
          if (code === '4404' || code === 'document_deleted') {
            this.#docs.delete(id);
            this.#renderList();
          }
        },
      }),
    );
    this.#open.add(toDisposable(() => this.#host.replaceChildren()));
  }

  #setHeadVisible(v: boolean): void {
    for (const el of this.#head.querySelectorAll<HTMLElement>('.doc-lock-btn, .doc-actions, .pill')) el.hidden = !v;
  }

  #onConnection(s: EditorConnection, detail?: string): void {
    const label = { connecting: 'connecting', syncing: 'syncing', live: 'live', reconnecting: 'reconnecting', offline: 'offline', closed: 'closed' }[s];
    this.#pill.className = `pill pill-${s === 'live' ? 'live' : s === 'offline' || s === 'closed' ? 'failed' : 'reconnecting'}`;
    setText(this.#pill, label);
    this.element.dataset.connection = s;
    if (s === 'offline') this.#showBanner('warn', 'You are offline. Your edits stay in this page and are sent when the network is back.');
    else if (s === 'reconnecting') this.#showBanner('warn', detail ?? 'Reconnecting to Keel… Your edits are kept and sent once connected.');
    else if (s === 'live') this.#renderLock();
    this.#renderLock();
  }

  #renderLock(): void {
    const ed = this.#editor;
    const lock = ed?.lock ?? null;
    const mine = ed?.holdsLock ?? false;
    this.#lockBtn.disabled = !ed || ed.connection !== 'live' || (!!lock && !mine);
    setText(this.#lockBtn, mine ? 'Unlock' : lock ? 'Locked' : 'Lock');
    this.#lockBtn.classList.toggle('held', mine);
    this.#lockBtn.title = mine ? 'Release the lock so others can edit' : lock ? `${lock.name} holds the lock` : 'Take the lock: others can read but not edit until you release it';
    this.element.dataset.lock = lock ? (mine ? 'mine' : 'other') : 'none';
    const state = ed?.connection;
    if (state === 'offline' || state === 'reconnecting' || state === 'closed') return;
    if (lock && !mine) this.#showBanner('locked', `Read-only: locked by ${lock.name} until ${timeOf(lock.expiresAt)}.`);
    else if (lock && mine) this.#showBanner('mine', `You hold the lock until ${timeOf(lock.expiresAt)} (renewed while this page is open). Others can read but not edit.`);
    else this.#banner.hidden = true;
  }

  #showBanner(kind: 'warn' | 'error' | 'locked' | 'mine', text: string): void {
    this.#banner.className = `doc-banner doc-banner-${kind}`;
    setText(this.#banner, text);
    this.#banner.hidden = false;
  }

  #toggleLock(): void {
    const ed = this.#editor;
    if (!ed) return;
    const sent = ed.holdsLock ? ed.releaseLock() : ed.takeLock();
    if (!sent) toast('Not connected: the lock can be taken once the editor is live.', 'error');
  }

  #renderPeers(peers: Peer[]): void {
    const others = peers.filter((p) => !p.self);
    const shown = peers.sort((a, b) => Number(b.self) - Number(a.self)).slice(0, 6);
    // Labels that tell the people here apart (two A-names are "Ad" and "Al", not two "A"s).
    const labels = peerLabels(shown.map((p) => p.name));
    this.#peersEl.replaceChildren(
      ...shown.map((p, i) =>
        h('span', { class: `peer${p.self ? ' self' : ''}${labels[i]!.length > 1 ? ' peer-long' : ''}`, title: p.self ? `${p.name} (you)` : p.name, style: `--peer: ${p.color}`, 'data-name': p.name, role: 'img', 'aria-label': p.self ? `${p.name} (you)` : p.name }, labels[i]!),
      ),
      ...(peers.length > 6 ? [h('span', { class: 'muted small' }, `+${peers.length - 6}`)] : []),
    );
    this.#peersEl.title = others.length ? `Here: ${others.map((p) => p.name).join(', ')}` : 'Only you';
  }

  async #rename(): Promise<void> {
    const id = this.#active;
    if (!id) return;
    const title = await promptDialog({ title: 'Rename document', label: 'Title', value: this.#docs.get(id)?.title ?? '', maxLength: MAX_TITLE_CHARS, confirm: 'Rename', testId: 'rename-dialog' });
    if (!title || this.#active !== id) return;
    try {
      const d = await api<DocInfo>('PATCH', `/api/docs/${encodeURIComponent(id)}`, { title });
      this.#docs.set(id, d);
      setText(this.#titleEl, d.title);
      this.#renderList();
    } catch (err) {
      toast(`Could not rename: ${errorMessage(err)}`, 'error');
    }
  }

  async #delete(): Promise<void> {
    const id = this.#active;
    if (!id) return;
    const ok = await confirmDialog({ title: 'Delete this document?', message: `“${this.#docs.get(id)?.title ?? 'this document'}” is deleted for everyone; whoever is editing it is disconnected.`, confirm: 'Delete', danger: true, testId: 'delete-dialog' });
    if (!ok || this.#active !== id) return;
    try {
      await api('DELETE', `/api/docs/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        toast(`Could not delete: ${errorMessage(err)}`, 'error');
        return;
      }
    }
    this.#docs.delete(id);
    this.#close();
  }

  #close(): void {
    this.#openSeq++;
    this.#open.clear();
    this.#editor = undefined;
    this.#active = undefined;
    store(LAST_DOC_KEY, undefined);
    this.#o.onActiveChange?.(undefined);
    this.#empty.hidden = false;
    this.#banner.hidden = true;
    this.#peersEl.replaceChildren();
    setText(this.#titleEl, 'Documents');
    this.#setHeadVisible(false);
    this.#renderList();
  }

  async #changeName(): Promise<void> {
    const n = await promptDialog({ title: 'Your name', label: 'Name shown beside your cursor', value: displayName(), maxLength: MAX_NAME_CHARS, confirm: 'Save', testId: 'name-dialog' });
    if (!n) return;
    store(NAME_KEY, n);
    setText(this.#nameBtn, `You: ${n}`);
    if (this.#active) void this.open(this.#active);
  }

  #renderList(): void {
    const docs = [...this.#docs.values()].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
    this.#listEl.replaceChildren(
      ...docs.map((d) =>
        h(
          'li',
          { class: `doc-item${d.id === this.#active ? ' active' : ''}`, 'data-id': d.id },
          h('a', { href: `#/docs/${encodeURIComponent(d.id)}`, class: 'chat-item-link' }, h('span', { class: 'chat-item-title' }, d.title), h('span', { class: 'muted small' }, `${formatAgo(d.updatedAt)}${d.lock ? ' · locked' : ''}${d.connections ? ` · ${d.connections} editing` : ''}`)),
        ),
      ),
    );
    if (docs.length === 0) this.#listEl.append(h('li', { class: 'chat-list-empty muted small' }, 'No documents yet.'));
  }

  setVisible(_visible: boolean): void {}

  dispose(): void {
    this.#store.dispose();
  }
}

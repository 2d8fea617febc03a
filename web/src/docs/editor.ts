/**
 * One open document: a Y.Doc synced over Keel's WebSocket (y-websocket's provider, unchanged),
 * a CodeMirror 6 Markdown editor bound to the Y.Text `content` with coloured presence cursors and
 * names (y-codemirror.next + awareness), and Keel's control messages (type 100: hello, lock,
 * refused, title, error). Loaded with a dynamic import: CodeMirror and Yjs are most of the bundle.
 */
import { markdown } from '@codemirror/lang-markdown';
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';
import { basicSetup } from 'codemirror';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { DisposableStore, Timer, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import { listMarkerTyping } from './list-markers.ts';

/** Keel's control messages on the document socket (docs/documents.md). */
const MESSAGE_KEEL = 100;

export interface DocLock {
  holder: string;
  name: string;
  acquiredAt: string;
  expiresAt: string;
  ttlMs: number;
}

export type KeelControl =
  | { type: 'hello'; connection: string; name: string; document: { id: string; title: string }; lock: DocLock | null; limits: Record<string, number> }
  | { type: 'lock'; lock: DocLock | null; reason: string }
  | { type: 'refused'; reason: string; message: string; lock?: DocLock }
  | { type: 'title'; title: string }
  | { type: 'error'; code: string; message: string };

export type EditorConnection = 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'offline' | 'closed';

export interface Peer {
  clientId: number;
  name: string;
  color: string;
  self: boolean;
}

export interface DocEditorOptions {
  id: string;
  user: { name: string; color: string };
  parent: HTMLElement;
  onConnection(state: EditorConnection, detail?: string): void;
  onLock(lock: DocLock | null, mine: boolean): void;
  onRefused(reason: string, message: string): void;
  onTitle(title: string): void;
  onPeers(peers: Peer[]): void;
  /** The server closed the socket for good (deleted, malformed, flooding): the message says why. */
  onFatal(code: string, message: string): void;
}

/** Close codes after which reconnecting would not help (docs/documents.md, close codes). */
const FATAL_CLOSE = new Set([4400, 4404, 4413, 4429]);

export class DocEditor implements Disposable {
  readonly #o: DocEditorOptions;
  readonly #store = new DisposableStore();
  readonly #ydoc = new Y.Doc();
  readonly #provider: WebsocketProvider;
  readonly #view: EditorView;
  readonly #editable = new Compartment();
  readonly #renew = this.#store.add(new Timer());
  #connection: string | undefined;
  #lock: DocLock | null = null;
  #state: EditorConnection = 'connecting';
  #everConnected = false;
  #fatal = false;

  constructor(o: DocEditorOptions) {
    this.#o = o;
    this.#store.add(toDisposable(() => this.#ydoc.destroy()));
    const base = new URL(`/api/docs/${encodeURIComponent(o.id)}`, location.href);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    // disableBc: y-websocket's cross-tab BroadcastChannel would pass edits around the server's locks.
    this.#provider = new WebsocketProvider(base.toString(), 'ws', this.#ydoc, { params: { name: o.user.name }, disableBc: true, connect: false });
    this.#store.add(toDisposable(() => this.#provider.destroy()));
    this.#provider.messageHandlers[MESSAGE_KEEL] = (_encoder, decoder) => {
      try {
        this.#onControl(JSON.parse(decoding.readVarString(decoder)) as KeelControl);
      } catch (err) {
        console.warn('keel: bad control message', err);
      }
    };
    const awareness = this.#provider.awareness;
    awareness.setLocalStateField('user', { name: o.user.name, color: o.user.color, colorLight: `${o.user.color}33` });
    const onAwareness = () => this.#emitPeers();
    awareness.on('change', onAwareness);
    this.#store.add(toDisposable(() => awareness.off('change', onAwareness)));

    const onStatus = ({ status }: { status: 'connected' | 'connecting' | 'disconnected' }) => {
      if (this.#fatal) return;
      if (status === 'connected') {
        this.#everConnected = true;
        this.#setState(this.#provider.synced ? 'live' : 'syncing');
      } else this.#setState(!navigator.onLine ? 'offline' : this.#everConnected ? 'reconnecting' : 'connecting');
    };
    this.#provider.on('status', onStatus);
    const onSync = (synced: boolean) => {
      if (synced && this.#provider.wsconnected) this.#setState('live');
    };
    this.#provider.on('sync', onSync);
    const onClose = (ev: CloseEvent | null) => {
      if (!ev || this.#fatal) return;
      // Locks die with the connection: forget ours, the server has released it.
      this.#connection = undefined;
      this.#renew.cancel();
      if (FATAL_CLOSE.has(ev.code)) {
        this.#fatal = true;
        this.#provider.disconnect();
        this.#setState('closed');
        const reason =
          ev.code === 4404 ? 'This document was deleted.' : ev.code === 4413 ? 'An edit was larger than Keel accepts for one update; reload to continue.' : ev.code === 4429 ? 'Too many edits too fast: Keel closed this editor. Reload to continue.' : 'Keel closed this editor (malformed message). Reload to continue.';
        this.#o.onFatal(String(ev.code), reason);
      } else if (ev.code === 1013) this.#o.onConnection('reconnecting', 'Too many connections: Keel is at its limit; retrying.');
    };
    this.#provider.on('connection-close', onClose);
    this.#store.add(
      toDisposable(() => {
        this.#provider.off('status', onStatus);
        this.#provider.off('sync', onSync);
        this.#provider.off('connection-close', onClose);
      }),
    );
    this.#store.add(listen(window, 'offline', () => this.#setState('offline')));
    this.#store.add(
      listen(window, 'online', () => {
        if (this.#fatal) return;
        this.#setState(this.#provider.wsconnected ? 'live' : 'reconnecting');
        if (!this.#provider.wsconnected) this.#provider.connect();
      }),
    );

    const ytext = this.#ydoc.getText('content');
    const undo = new Y.UndoManager(ytext);
    this.#store.add(toDisposable(() => undo.destroy()));
    this.#view = new EditorView({
      parent: o.parent,
      state: EditorState.create({
        doc: ytext.toString(),
        extensions: [
          keymap.of([...yUndoManagerKeymap]),
          basicSetup,
          markdown(),
          listMarkerTyping,
          EditorView.lineWrapping,
          this.#editable.of(this.#editableExt(false)),
          yCollab(ytext, awareness, { undoManager: undo }),
          keelTheme,
          syntaxHighlighting(keelHighlight),
        ],
      }),
    });
    this.#store.add(toDisposable(() => this.#view.destroy()));
    this.#provider.connect();
  }

  get lock(): DocLock | null {
    return this.#lock;
  }
  get holdsLock(): boolean {
    return !!this.#lock && this.#lock.holder === this.#connection;
  }
  get connection(): EditorConnection {
    return this.#state;
  }
  get text(): string {
    return this.#ydoc.getText('content').toString();
  }

  focus(): void {
    this.#view.focus();
  }

  /** Takes the lock, or renews it when held (the server answers with a `lock` broadcast or `refused`). */
  takeLock(): boolean {
    return this.#sendControl({ type: 'lock' });
  }

  releaseLock(): boolean {
    this.#renew.cancel();
    return this.#sendControl({ type: 'unlock' });
  }

  #sendControl(msg: object): boolean {
    const ws = this.#provider.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, MESSAGE_KEEL);
    encoding.writeVarString(enc, JSON.stringify(msg));
    ws.send(encoding.toUint8Array(enc));
    return true;
  }

  #onControl(m: KeelControl): void {
    if (this.#store.disposed) return;
    switch (m.type) {
      case 'hello':
        this.#connection = m.connection;
        this.#o.onTitle(m.document.title);
        this.#setLock(m.lock);
        break;
      case 'lock':
        this.#setLock(m.lock);
        break;
      case 'refused':
        if (m.lock) this.#setLock(m.lock);
        this.#o.onRefused(m.reason, m.message);
        break;
      case 'title':
        this.#o.onTitle(m.title);
        break;
      case 'error':
        this.#o.onFatal(m.code, m.message);
        break;
    }
  }

  #setLock(lock: DocLock | null): void {
    this.#lock = lock;
    const mine = this.holdsLock;
    const readOnly = !!lock && !mine;
    this.#view.dispatch({ effects: this.#editable.reconfigure(this.#editableExt(readOnly)) });
    this.#renew.cancel();
    // A held lease is renewed at half its TTL while this editor is open (docs/documents.md).
    if (mine && lock) this.#renew.set(() => this.takeLock(), Math.max(1_000, lock.ttlMs / 2));
    this.#o.onLock(lock, mine);
  }

  #editableExt(readOnly: boolean) {
    return [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)];
  }

  #setState(s: EditorConnection): void {
    if (this.#state === s) return;
    this.#state = s;
    this.#o.onConnection(s);
  }

  #emitPeers(): void {
    const awareness = this.#provider.awareness;
    const peers: Peer[] = [];
    for (const [clientId, st] of awareness.getStates()) {
      const u = (st as { user?: { name?: unknown; color?: unknown } }).user;
      if (!u || typeof u.name !== 'string') continue;
      peers.push({ clientId, name: u.name.slice(0, 60), color: typeof u.color === 'string' ? u.color : '#8b98a8', self: clientId === awareness.clientID });
    }
    this.#o.onPeers(peers);
  }

  dispose(): void {
    if (this.#store.disposed) return;
    // Leaving: clear our presence so others drop our cursor at once, not after a timeout.
    try {
      this.#provider.awareness.setLocalState(null);
    } catch {
      // Already torn down.
    }
    this.#store.dispose();
  }
}

/**
 * The editor in Keel's dark colours. Every text colour here has a contrast of at least 4.5:1 (WCAG
 * AA) on the editor's background #0b0f14, line numbers included (checked by a browser test that
 * reads the computed styles): CodeMirror's default highlight style is made for a light page, and
 * its dark blues and greys were unreadable here.
 */
const keelTheme = EditorView.theme(
  {
    '&': { height: '100%', backgroundColor: 'var(--bg-term)', color: '#d6dde6', fontSize: '14px' },
    '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.55' },
    '.cm-content': { padding: '12px 0', caretColor: 'var(--accent)' },
    '.cm-gutters': { backgroundColor: 'var(--bg-term)', color: '#7d8590', border: 'none' },
    '.cm-activeLine': { backgroundColor: 'rgba(88, 166, 255, 0.05)' },
    '.cm-activeLineGutter': { backgroundColor: 'transparent', color: '#adbac7' },
    '&.cm-focused': { outline: 'none' },
    '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--accent)' },
    '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: 'rgba(88, 166, 255, 0.25) !important' },
    '.cm-matchingBracket, &.cm-focused .cm-matchingBracket': { backgroundColor: 'rgba(63, 185, 80, 0.25)', color: 'inherit' },
    '.cm-searchMatch': { backgroundColor: 'rgba(210, 153, 34, 0.3)', outline: '1px solid rgba(210, 153, 34, 0.6)' },
    '.cm-foldPlaceholder': { backgroundColor: '#1c2430', border: '1px solid #2a3340', color: '#adbac7' },
    '.cm-panels': { backgroundColor: '#151b23', color: '#e6edf3' },
    '.cm-panels.cm-panels-bottom': { borderTop: '1px solid #2a3340' },
    '.cm-tooltip': { backgroundColor: '#1c2430', color: '#e6edf3', border: '1px solid #2a3340' },
    // Names always visible (not only on hover): presence is the point on a shared page, and phones cannot hover.
    // Dark text on the (bright) presence colours: white on them was below 3:1.
    '.cm-ySelectionInfo': { opacity: '1', fontFamily: 'var(--font)', top: '-1.35em', padding: '0 4px', borderRadius: '3px 3px 3px 0', fontSize: '11px', color: '#0d1117' },
  },
  { dark: true },
);

/** Markdown (and code) colours on the dark background; all ≥ 4.5:1 against #0b0f14. */
const keelHighlight = HighlightStyle.define([
  { tag: [t.heading1, t.heading2, t.heading3], color: '#79c0ff', fontWeight: '700' },
  { tag: t.heading, color: '#79c0ff', fontWeight: '600' },
  { tag: t.strong, color: '#e6edf3', fontWeight: '700' },
  { tag: t.emphasis, color: '#e6edf3', fontStyle: 'italic' },
  { tag: t.strikethrough, textDecoration: 'line-through' },
  { tag: [t.link, t.url], color: '#6cb6ff', textDecoration: 'underline' },
  { tag: t.monospace, color: '#ffa657' },
  { tag: t.quote, color: '#a5d6ff', fontStyle: 'italic' },
  { tag: [t.processingInstruction, t.contentSeparator, t.meta, t.labelName, t.punctuation], color: '#8b98a8' },
  { tag: [t.keyword, t.operator, t.modifier], color: '#ff7b72' },
  { tag: [t.string, t.regexp, t.special(t.string)], color: '#a5d6ff' },
  { tag: [t.number, t.bool, t.atom, t.null], color: '#79c0ff' },
  { tag: t.comment, color: '#8b98a8', fontStyle: 'italic' },
  { tag: [t.typeName, t.className, t.tagName], color: '#ffa657' },
  { tag: [t.function(t.variableName), t.definition(t.variableName), t.propertyName, t.attributeName], color: '#d2a8ff' },
  { tag: t.invalid, color: '#ff7b72' },
]);

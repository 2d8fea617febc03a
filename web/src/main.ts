/**
 * Keel's browser UI: the shell (brand, navigation, health chip) and its pages: Terminals, Health,
 * Chat and Documents. Routes live in the address's hash: `#/terminals[/<id>]`, `#/health`,
 * `#/chat[/<id>]`, `#/docs[/<id>]`, and `#/t/<id>?share=<sig>` for a read-only viewer.
 * On the Terminals page the Agent button opens the chat beside the terminals (a drawer on a phone):
 * the same ChatPage as the Chat page, moved between the two places.
 */
import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { api, errorMessage, setUnauthorizedHandler } from './api.ts';
import { formatMb, h, setText } from './dom.ts';
import { ChatPage } from './chat/page.ts';
import { DocsPage } from './docs/page.ts';
import { HealthFeed } from './health/feed.ts';
import { HealthPanel } from './health/panel.ts';
import { StorageBanner } from './health/storage-banner.ts';
import { listen } from './lifecycle.ts';
import { TerminalsPage } from './terminals/page.ts';
import { parseShareHash } from './terminals/types.ts';
import { store, stored } from './storage.ts';
import { mountToasts, toast } from './toast.ts';
import { pairButton } from './relay/pair-dialog.ts';
import { relayBootstrap } from './relay/bootstrap.ts';

type Route = { page: 'terminals' | 'chat' | 'docs'; id?: string } | { page: 'health' } | { page: 'share'; id: string; share: string };

function parseRoute(hash: string): Route {
  const share = parseShareHash(hash);
  if (share) return { page: 'share', ...share };
  if (hash.startsWith('#/health')) return { page: 'health' };
  const m = /^#\/(terminals|chat|docs)(?:\/([^/?]+))?/.exec(hash);
  if (!m) return { page: 'terminals' };
  const page = m[1] as 'terminals' | 'chat' | 'docs';
  return m[2] ? { page, id: decodeURIComponent(m[2]) } : { page };
}

/** Chat and Documents are built on first visit: a terminal-only user never loads their streams. */
interface LazyPage {
  readonly element: HTMLElement;
  readonly activeId: string | undefined;
  start(wanted?: string): Promise<void>;
  open(id: string): Promise<void>;
  setVisible(visible: boolean): void;
  dispose(): void;
}

const ICONS = {
  terminals: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 9l3 3-3 3M12 15h5"/></svg>',
  health: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 12h4l2-5 4 10 2-5h6"/></svg>',
  chat: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 5h16v10H9l-5 4z"/></svg>',
  docs: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 3h8l4 4v14H6z M14 3v4h4"/></svg>',
  signout: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M10 4H5v16h5M14 8l4 4-4 4M18 12H9"/></svg>',
  // Sparkles: the agent pane, which must not look like the Chat page's speech bubble on a phone (icons only there).
  agent: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M10 3l1.8 5.2L17 10l-5.2 1.8L10 17l-1.8-5.2L3 10l5.2-1.8z M18 14l.9 2.1L21 17l-2.1.9L18 20l-.9-2.1L15 17l2.1-.9z"/></svg>',
};
/** Whether the agent pane was open, kept across reloads. */
const AGENT_PANE_KEY = 'keel.agentPane';

const LOGO = '<svg viewBox="0 0 32 32" aria-hidden="true"><path d="M5 19h22l-3.5 7h-15z" class="hull"/><path d="M16 4v13M16 4l7 10h-7" class="sail"/></svg>';

function navIcon(key: keyof typeof ICONS): HTMLElement {
  const icon = h('span', { class: 'nav-icon' });
  icon.innerHTML = ICONS[key];
  return icon;
}

function navItem(key: keyof typeof ICONS, label: string, href: string): HTMLElement {
  return h('a', { class: 'nav-item', href, title: label, 'aria-label': label, 'data-nav': key }, navIcon(key), h('span', { class: 'nav-label' }, label));
}

function boot(): void {
  const root = document.getElementById('app')!;
  const initial = parseRoute(location.hash);
  const viewerMode = initial.page === 'share';

  const logo = h('span', { class: 'logo' });
  logo.innerHTML = LOGO;
  const brand = h('a', { class: 'brand', href: viewerMode ? location.hash : '#/terminals' }, logo, h('span', { class: 'brand-name' }, 'Keel'));
  const chipDot = h('span', { class: 'dot' });
  const chipText = h('span', { class: 'chip-text' }, '–');
  const chip = h('a', { class: 'health-chip', href: '#/health', title: 'Keel’s memory and health', 'data-testid': 'health-chip' }, chipDot, chipText);
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    navItem('terminals', 'Terminals', '#/terminals'),
    navItem('health', 'Health', '#/health'),
    navItem('chat', 'Chat', '#/chat'),
    navItem('docs', 'Docs', '#/docs'),
  );
  const agentToggle = h(
    'button',
    { class: 'agent-toggle', type: 'button', title: 'Show the agent beside the terminals', 'aria-label': 'Agent pane', 'aria-pressed': 'false', 'data-testid': 'agent-toggle', hidden: true },
    navIcon('agent'),
    h('span', { class: 'nav-label' }, 'Agent'),
  );
  // Sign-out: the cookie is HttpOnly, so only the server can clear it.
  const signOut = h('button', { class: 'btn btn-ghost btn-small', type: 'button', title: 'Sign out of Keel in this browser', 'aria-label': 'Sign out', 'data-testid': 'signout' }, navIcon('signout'));
  const header = h('header', { class: 'topbar' }, brand, viewerMode ? h('span', { class: 'viewer-note' }, 'Shared terminal · read-only') : nav, viewerMode ? null : agentToggle, viewerMode ? null : pairButton(), viewerMode ? null : chip, viewerMode ? null : signOut);
  const main = h('main', { class: 'main' });
  root.append(header, main);

  // The agent pane: the chat beside the terminals on a desktop, a drawer over them on a phone.
  let agentOpen = !viewerMode && stored(AGENT_PANE_KEY) === '1';
  const paneClose = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'aria-label': 'Close the agent pane', 'data-testid': 'agent-pane-close' }, '✕');
  const paneBody = h('div', { class: 'agent-pane-body' });
  const agentPane = h(
    'aside',
    { class: 'agent-pane', hidden: true, 'aria-label': 'Agent', 'data-testid': 'agent-pane' },
    h('div', { class: 'agent-pane-head' }, h('span', { class: 'agent-pane-title' }, 'Agent'), h('a', { class: 'btn btn-ghost btn-small', href: '#/chat', title: 'Open the chat as a page' }, 'Full page'), paneClose),
    paneBody,
  );
  const setAgentOpen = (on: boolean) => {
    agentOpen = on;
    store(AGENT_PANE_KEY, on ? '1' : '0');
    show();
  };
  listen(agentToggle, 'click', () => setAgentOpen(!agentOpen));
  listen(paneClose, 'click', () => setAgentOpen(false));
  mountToasts(root);

  let signedOut = false;
  const showSignedOut = (title: string) => {
    if (signedOut || viewerMode) return;
    signedOut = true;
    main.replaceChildren(
      h(
        'div',
        { class: 'signin', 'data-testid': 'signed-out' },
        h('h1', {}, title),
        h('p', {}, 'Open the URL that keel printed when it started (it ends in ?token=…). The token is also in <data-dir>/token.'),
      ),
    );
    // Nothing will work without the cookie: stop every feed and stream instead of retrying forever
    // (after the current call returns: this runs inside one of their requests).
    queueMicrotask(() => {
      feed.dispose();
      terminals.dispose();
      for (const e of lazy.values()) e.page.dispose();
      lazy.clear();
      nav.remove();
      agentToggle.remove();
      chip.remove();
      signOut.remove();
    });
  };
  setUnauthorizedHandler(() => showSignedOut('Keel needs its access token'));
  listen(signOut, 'click', () => {
    signOut.setAttribute('disabled', '');
    api('POST', '/api/auth/signout').then(
      () => showSignedOut('You are signed out of Keel'),
      (err) => {
        signOut.removeAttribute('disabled');
        toast(`Could not sign out: ${errorMessage(err)}`, 'error');
      },
    );
  });

  const terminals = new TerminalsPage({
    share: initial.page === 'share' ? { id: initial.id, share: initial.share } : undefined,
    onActiveChange: (id) => {
      if (viewerMode || parseRoute(location.hash).page !== 'terminals') return;
      const want = id ? `#/terminals/${encodeURIComponent(id)}` : '#/terminals';
      if (location.hash !== want) history.replaceState(null, '', want);
    },
  });
  const feed = new HealthFeed();
  const health = viewerMode ? undefined : new HealthPanel(feed);
  const termSection = h('section', { class: 'page page-terminals' }, terminals.element);
  main.append(termSection, agentPane);
  const healthSection = health ? h('section', { class: 'page page-health' }, health.element) : undefined;
  if (healthSection) main.append(healthSection);

  if (!viewerMode) {
    root.insertBefore(new StorageBanner(feed).element, main);
    feed.subscribe((s) => {
      const r = s.report;
      if (!r?.memory) return;
      setText(chipText, formatMb(r.memory.rss_mb));
      chipDot.className = `dot dot-${r.health.shedding ? 'critical' : r.health.state}`;
      chip.title = `Health: ${r.health.state} · RSS ${formatMb(r.memory.rss_mb)} · heap ${formatMb(r.memory.heap_alloc_mb)} (${s.mode})`;
    });
    feed.start();
  }

  // Chat and Documents: sections made on first visit, kept (hidden) afterwards.
  const lazy = new Map<'chat' | 'docs', { page: LazyPage; section: HTMLElement }>();
  const syncAddress = (kind: 'chat' | 'docs') => (id: string | undefined) => {
    if (parseRoute(location.hash).page !== kind) return;
    const want = id ? `#/${kind}/${encodeURIComponent(id)}` : `#/${kind}`;
    if (location.hash !== want) history.replaceState(null, '', want);
  };
  const lazyPage = (kind: 'chat' | 'docs', wanted?: string) => {
    let entry = lazy.get(kind);
    if (!entry) {
      const page: LazyPage = kind === 'chat' ? new ChatPage({ onActiveChange: syncAddress('chat'), ownsTitle: () => parseRoute(location.hash).page === 'chat' }) : new DocsPage({ onActiveChange: syncAddress('docs') });
      const section = h('section', { class: `page page-${kind}` }, page.element);
      main.append(section);
      entry = { page, section };
      lazy.set(kind, entry);
      void page.start(wanted);
    } else if (wanted && wanted !== entry.page.activeId) {
      void entry.page.open(wanted);
    }
    return entry;
  };

  const shownLazy = new Set<'chat' | 'docs'>();
  const show = () => {
    const r = parseRoute(location.hash);
    const page = viewerMode ? 'terminals' : r.page === 'share' ? 'terminals' : r.page;
    const paneOn = page === 'terminals' && agentOpen;
    if (page === 'chat' || page === 'docs') lazyPage(page, 'id' in r ? r.id : undefined);
    else if (paneOn) lazyPage('chat');
    // One chat, two places: its page, or the pane beside the terminals.
    const chat = lazy.get('chat');
    if (chat) {
      const home = paneOn ? paneBody : chat.section;
      if (chat.page.element.parentElement !== home) home.append(chat.page.element);
    }
    for (const [kind, e] of lazy) {
      e.section.hidden = kind !== page;
      const visible = kind === page || (kind === 'chat' && paneOn);
      // Only on a change: setVisible scrolls the chat to its end, which must not happen on every address change.
      if (visible !== shownLazy.has(kind)) {
        if (visible) shownLazy.add(kind);
        else shownLazy.delete(kind);
        e.page.setVisible(visible);
      }
    }
    agentPane.hidden = !paneOn;
    main.classList.toggle('with-agent', paneOn);
    agentToggle.hidden = viewerMode || page !== 'terminals';
    agentToggle.setAttribute('aria-pressed', String(paneOn));
    agentToggle.classList.toggle('active', paneOn);
    termSection.hidden = page !== 'terminals';
    if (healthSection) healthSection.hidden = page !== 'health';
    health?.setVisible(page === 'health');
    for (const a of nav.querySelectorAll<HTMLElement>('[data-nav]')) a.classList.toggle('active', a.dataset.nav === page);
    if (page === 'terminals') {
      if (r.page === 'terminals' && r.id && r.id !== terminals.activeId) terminals.activate(r.id);
      // The active terminal was hidden: refit it now that it has a size again.
      terminals.activeView?.setVisible(true);
    }
    document.title = page === 'health' ? 'Health · Keel' : page === 'chat' ? 'Chat · Keel' : page === 'docs' ? 'Documents · Keel' : 'Keel';
  };
  listen(window, 'hashchange', show);
  show();
  if (!viewerMode) {
    // The Agent button says before anyone opens it that no model is configured (the pane says what to set).
    api<{ configured: boolean }>('GET', '/api/agent')
      .then((a) => {
        agentToggle.classList.toggle('no-model', !a.configured);
        if (!a.configured) agentToggle.title = 'Agent: no AI model is configured; open to see what to set';
      })
      .catch(() => {
        // An older server or unreachable: the pane finds out when opened.
      });
  }
  void terminals.start(initial.page === 'terminals' ? initial.id : undefined);

  // Tell phones how tall the visible area is, so the key bar sits right above the on-screen keyboard (iOS).
  const vv = window.visualViewport;
  if (vv) {
    const fit = () => document.documentElement.style.setProperty('--vvh', `${Math.round(vv.height)}px`);
    vv.addEventListener('resize', fit);
    fit();
  }

  // Test hook: read-only views of the page's state, for the browser tests (and curious users).
  (window as unknown as { __keel: unknown }).__keel = {
    version: 1,
    tabs: () => terminals.tabs(),
    activeId: () => terminals.activeId,
    screen: (id?: string) => terminals.view(id)?.screenText() ?? '',
    /** The xterm.js Terminal of a tab (the browser tests compare its full state with a reference). */
    xterm: (id?: string) => terminals.view(id)?.term,
    scroll: (id?: string) => {
      const b = terminals.view(id)?.term.buffer.active;
      return b ? { viewportY: b.viewportY, baseY: b.baseY, type: b.type } : undefined;
    },
    health: () => ({ mode: feed.snapshot.mode, report: feed.snapshot.report, samples: feed.snapshot.samples.length }),
    dropConnection: (id?: string) => terminals.view(id)?.dropConnectionForTest(),
    newTerminal: () => terminals.create().then((v) => v?.id),
    chat: () => (lazy.get('chat')?.page as ChatPage | undefined)?.snapshot(),
    doc: () => {
      const d = lazy.get('docs')?.page as DocsPage | undefined;
      const e = d?.editor;
      return { id: d?.activeId, text: e?.text, connection: e?.connection, lock: e?.lock ?? null, holdsLock: e?.holdsLock ?? false };
    },
  };
}

// On a page served by a relay the tunnel and its shims come first (web/src/relay/); elsewhere this starts at once.
void relayBootstrap(document.getElementById('app')!).then((ok) => ok && boot());

/**
 * Start-up of a page served by a relay (the relay marks it with <meta name="keel-relay">): take the
 * pairing from the link's fragment (and drop it from the address bar) or from IndexedDB, open the
 * tunnel, install the fetch, WebSocket and EventSource shims, and only then let the app start — the
 * app's own code runs unchanged over the tunnel. A refused or revoked pairing shows a clear message.
 */
import { TunnelClient, type DirectConfig, type TunnelState } from '../../../src/tunnel/client.ts';
import type { PeerLike } from '../../../src/tunnel/direct.ts';
import type { PathKind } from '../../../src/tunnel/paths.ts';
import { parsePairingFragment } from '../../../src/tunnel/pairing-link.ts';
import { h } from '../dom.ts';
import { toast } from '../toast.ts';
import { registerServiceWorker, waitForKeel } from './app-shell.ts';
import { makeTunnelEventSource } from './eventsource-shim.ts';
import { makeTunnelFetch } from './fetch-shim.ts';
import { currentPairing, forgetPairing, rememberPairing, type StoredPairing } from './pairing-store.ts';
import { makeTunnelWebSocket } from './websocket-shim.ts';
import './relay.css';

export function isRelayPage(): boolean {
  return !!document.querySelector('meta[name="keel-relay"]');
}

interface RelayHook {
  state: TunnelState;
  message: string;
  hostId: string;
  /** "direct" once a WebRTC data channel carries the traffic, else "relayed". */
  path: PathKind;
  streams(): number;
  drop(): void;
  /** Closes the direct path from this side (it falls back to the relay). */
  dropDirect(): void;
  /** Tries a direct path now instead of after the retry delay. */
  tryDirect(): void;
  /** The path layer's numbers. */
  pathInfo(): Record<string, number | string> | undefined;
}

/** The browser's own WebRTC, when it has one (the app works without: everything stays relayed). */
function browserDirect(): DirectConfig | undefined {
  if (typeof RTCPeerConnection !== 'function') return undefined;
  return { makePeer: (iceServers) => new RTCPeerConnection({ iceServers }) as unknown as PeerLike };
}

/** The "Direct / Relayed" badge in the top bar: the only sign of which path the traffic takes. */
function pathBadge(): { element: HTMLElement; set(path: PathKind, reason: string): void } {
  const label = h('span', { class: 'relay-path-label' }, 'Relayed');
  const element = h('span', { class: 'relay-path', 'data-testid': 'relay-path', 'data-path': 'relayed', role: 'status' }, h('span', { class: 'dot' }), label);
  const set = (path: PathKind, reason: string) => {
    element.dataset.path = path;
    label.textContent = path === 'direct' ? 'Direct' : 'Relayed';
    element.title =
      path === 'direct'
        ? 'Direct: traffic goes straight between this browser and your host (WebRTC), end-to-end encrypted.'
        : `Relayed: traffic goes through the relay, end-to-end encrypted; the relay cannot read it.${reason ? ` (${reason})` : ''}`;
  };
  set('relayed', '');
  return { element, set };
}

/** Resolves true when the app may start (not a relay page, or the tunnel is open); false when it must not. */
export async function relayBootstrap(root: HTMLElement): Promise<boolean> {
  registerServiceWorker();
  if (!isRelayPage()) return waitForKeel(root);
  const overlay = h('div', { class: 'relay-overlay', 'data-testid': 'relay-status', role: 'status' });
  root.append(overlay);
  const show = (state: string, title: string, detail: string, actions: HTMLElement[] = []) => {
    overlay.hidden = false;
    overlay.dataset.state = state;
    overlay.replaceChildren(h('div', { class: 'relay-card' }, h('h1', {}, title), h('p', {}, detail), ...actions));
  };

  const fromLink = parsePairingFragment(location.hash);
  let pairing: StoredPairing | undefined;
  if (fromLink) {
    // The secret leaves the address bar and history before anything else runs.
    history.replaceState(null, '', `${location.pathname}${location.search}#/terminals`);
    pairing = await rememberPairing(fromLink);
  } else pairing = await currentPairing();
  if (!pairing) {
    show('unpaired', 'This browser is not paired', 'Open the pairing link that `keel pair` (or the “Pair a phone” button in Keel) gives you, on this device. The link carries a secret that never leaves your browser.');
    return false;
  }

  const p = pairing;
  const badge = pathBadge();
  const hook: RelayHook = {
    state: 'connecting',
    message: '',
    hostId: p.hostId,
    path: 'relayed',
    streams: () => client.session?.streamCount ?? 0,
    drop: () => client.session?.close(4000, 'dropped for a test'),
    dropDirect: () => client.session?.dropDirect(),
    tryDirect: () => client.session?.tryDirect(),
    pathInfo: () => client.session?.pathInfo(),
  };
  (window as unknown as { __keelRelay: RelayHook }).__keelRelay = hook;
  let started = false;
  let resolveOpen!: (ok: boolean) => void;
  const opened = new Promise<boolean>((r) => (resolveOpen = r));
  const client = new TunnelClient({
    url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/relay/connect/${p.hostId}`,
    hostId: p.hostId,
    pairingId: p.pairingId,
    psk: p.key,
    direct: browserDirect(),
    onPath: (path, reason) => {
      hook.path = path;
      badge.set(path, reason);
    },
    onState: (state, detail) => {
      hook.state = state;
      hook.message = detail.message ?? '';
      if (state === 'open') {
        overlay.hidden = true;
        resolveOpen(true);
      } else if (state === 'refused') {
        const forget = h('button', { class: 'btn', type: 'button', 'data-testid': 'relay-forget' }, 'Forget this pairing');
        forget.addEventListener('click', () => void forgetPairing(p.hostId).then(() => location.reload()));
        show('refused', 'Your host refused this browser', detail.message ?? 'The pairing was revoked. Pair again with a new link from Keel (keel pair).', [forget]);
        resolveOpen(false);
      } else if (!started) {
        show(state, state === 'reconnecting' ? 'Reconnecting to your host…' : 'Connecting to your host…', detail.message ?? 'Opening an end-to-end encrypted tunnel through the relay.');
      } else if (detail.code !== undefined && detail.code >= 4001 && detail.code <= 4004 && detail.message) {
        // A tampered or broken tunnel is worth telling: the page reconnects, but the user should know why it dropped.
        toast(detail.message, 'error');
      }
    },
  });
  const tunnelFetch = makeTunnelFetch(client, window.fetch.bind(window));
  window.fetch = tunnelFetch;
  window.WebSocket = makeTunnelWebSocket(client, window.WebSocket);
  window.EventSource = makeTunnelEventSource(tunnelFetch);
  addEventListener('pagehide', () => client.stop());
  client.start();
  started = await opened;
  // The app builds its top bar right after this resolves: the badge goes beside the health chip.
  if (started) setTimeout(() => placeBadge(badge.element), 0);
  return started;
}

function placeBadge(badge: HTMLElement): void {
  const bar = document.querySelector('.topbar');
  const chip = bar?.querySelector('.health-chip');
  if (bar && chip) bar.insertBefore(badge, chip);
  else (bar ?? document.body).append(badge);
}

/**
 * Start-up of a page served by a relay (the relay marks it with <meta name="keel-relay">): take the
 * pairing from the link's fragment (and drop it from the address bar) or from IndexedDB, open the
 * tunnel, install the fetch, WebSocket and EventSource shims, and only then let the app start — the
 * app's own code runs unchanged over the tunnel. A refused or revoked pairing shows a clear message.
 */
import { TunnelClient, type TunnelState } from '../../../src/tunnel/client.ts';
import { parsePairingFragment } from '../../../src/tunnel/pairing-link.ts';
import { h } from '../dom.ts';
import { toast } from '../toast.ts';
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
  streams(): number;
  drop(): void;
}

/** Resolves true when the app may start (not a relay page, or the tunnel is open); false when it must not. */
export async function relayBootstrap(root: HTMLElement): Promise<boolean> {
  if (!isRelayPage()) return true;
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
  const hook: RelayHook = { state: 'connecting', message: '', hostId: p.hostId, streams: () => client.session?.streamCount ?? 0, drop: () => client.session?.close(4000, 'dropped for a test') };
  (window as unknown as { __keelRelay: RelayHook }).__keelRelay = hook;
  let started = false;
  let resolveOpen!: (ok: boolean) => void;
  const opened = new Promise<boolean>((r) => (resolveOpen = r));
  const client = new TunnelClient({
    url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/relay/connect/${p.hostId}`,
    hostId: p.hostId,
    pairingId: p.pairingId,
    psk: p.key,
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
        show(state, 'Connecting to your host…', detail.message ?? 'Opening an end-to-end encrypted tunnel through the relay.');
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
  return started;
}

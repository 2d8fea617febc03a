/**
 * The installable app's side in the page: registers the service worker (web/public/sw.js), and on a
 * page Keel serves itself, makes sure Keel answers before the app starts. When it does not — the
 * app opened from the home screen with the phone offline, or Keel stopped — the page shows
 * "Reconnecting to Keel…" instead of a broken app, keeps trying with backoff, and reloads once Keel
 * answers. (A relay page has its own reconnecting screen: the tunnel's, in bootstrap.ts.)
 */
import { h } from '../dom.ts';

export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || !isSecureContext) return;
  // Best effort: a page without its worker still works; it only does not open offline.
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
}

/** Any HTTP answer counts (even 503 while Keel sheds load): only a network failure means "not there". */
async function reachable(): Promise<boolean> {
  try {
    await fetch('/healthz', { cache: 'no-store', credentials: 'same-origin' });
    return true;
  } catch {
    return false;
  }
}

/** Resolves true when Keel answers; otherwise shows the reconnecting shell and reloads the page once it does (never resolves true). */
export async function waitForKeel(root: HTMLElement): Promise<boolean> {
  if (await reachable()) return true;
  const detail = h('p', {}, `Keel is not answering at ${location.host}. This page keeps trying and opens by itself when it is back.`);
  const overlay = h(
    'div',
    { class: 'relay-overlay', 'data-testid': 'app-offline', 'data-state': 'offline', role: 'status' },
    h('div', { class: 'relay-card' }, h('h1', {}, 'Reconnecting to Keel…'), detail),
  );
  root.append(overlay);
  for (let attempt = 0; ; attempt++) {
    const cap = Math.min(10_000, 1_000 * 2 ** Math.min(attempt, 4));
    await new Promise((r) => setTimeout(r, cap / 2 + Math.random() * (cap / 2)));
    if (await reachable()) {
      location.reload();
      return false;
    }
    if (!navigator.onLine) detail.textContent = 'This device is offline. The page opens by itself when it is back online and Keel answers.';
  }
}

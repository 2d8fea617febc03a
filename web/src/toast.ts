/** Short notices at the bottom of the page; bounded in number, each removed after a while. */
import { h } from './dom.ts';

/** At most this many notices show at once; older ones go first. */
const MAX_TOASTS = 4;
const TOAST_MS = 6_000;

let host: HTMLElement | undefined;

export function mountToasts(parent: HTMLElement): void {
  host = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  parent.append(host);
}

export function toast(message: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  if (!host) return;
  const el = h('div', { class: `toast toast-${kind}` }, message);
  host.append(el);
  while (host.childElementCount > MAX_TOASTS) host.firstElementChild?.remove();
  setTimeout(() => el.remove(), kind === 'error' ? TOAST_MS * 2 : TOAST_MS);
  el.addEventListener('click', () => el.remove(), { once: true });
}

/**
 * The "Pair a phone" button and its dialog: a new pairing's link and QR code (the secret is in the
 * link's fragment; the dialog never stores it), and the list of pairings with Revoke buttons.
 */
import { api, errorMessage } from '../api.ts';
import { h } from '../dom.ts';

interface PairingInfo {
  id: string;
  name: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

const PHONE_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/></svg>';

export function pairButton(): HTMLElement {
  const icon = h('span', { class: 'nav-icon' });
  icon.innerHTML = PHONE_ICON;
  const btn = h('button', { class: 'agent-toggle pair-button', type: 'button', title: 'Pair a phone through the relay', 'aria-label': 'Pair a phone', 'data-testid': 'pair-phone' }, icon, h('span', { class: 'nav-label' }, 'Pair'));
  btn.addEventListener('click', () => void openDialog());
  return btn;
}

async function openDialog(): Promise<void> {
  const body = h('div', { class: 'pair-body' }, h('p', { class: 'pair-note' }, 'Making a pairing…'));
  const list = h('ul', { 'data-testid': 'pair-list' });
  const close = h('button', { class: 'btn', type: 'button' }, 'Close');
  const dialog = h('dialog', { class: 'pair-dialog', 'data-testid': 'pair-dialog' }, h('h2', {}, 'Pair a phone'), body, h('h2', {}, 'Paired browsers'), list, h('div', { class: 'pair-actions' }, close));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();

  const refresh = async () => {
    try {
      const { pairings } = await api<{ pairings: PairingInfo[] }>('GET', '/api/relay/pairings');
      list.replaceChildren(
        ...(pairings.length ? [] : [h('li', { class: 'pair-note' }, 'None yet.')]),
        ...pairings.map((p) => {
          const revoke = h('button', { class: 'btn btn-small', type: 'button', 'data-testid': 'pair-revoke', 'data-id': p.id }, 'Revoke');
          revoke.addEventListener('click', () => void api('DELETE', `/api/relay/pairings/${encodeURIComponent(p.id)}`).then(refresh, (e) => (revoke.textContent = errorMessage(e))));
          return h('li', { 'data-id': p.id }, h('span', {}, `${p.name} · ${p.lastUsedAt ? 'used' : 'link not used yet'}`), revoke);
        }),
      );
    } catch (e) {
      list.replaceChildren(h('li', { class: 'pair-note' }, errorMessage(e)));
    }
  };

  try {
    const status = await api<{ enabled: boolean; state: string }>('GET', '/api/relay');
    if (!status.enabled) {
      body.replaceChildren(h('p', { class: 'pair-note' }, 'Keel is not using a relay. Start it with --relay https://your-relay (see docs/relay.md) to reach it from a phone.'));
    } else {
      const made = await api<{ link: string; qr_svg: string; pairing: PairingInfo }>('POST', '/api/relay/pairings', { name: 'Phone' });
      const img = h('img', { class: 'pair-qr', alt: 'QR code of the pairing link', 'data-testid': 'pair-qr' });
      // An <img> never runs script, whatever the SVG holds.
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(made.qr_svg)}`;
      const link = h('input', { class: 'pair-link', readonly: true, value: made.link, 'aria-label': 'Pairing link', 'data-testid': 'pair-link' });
      body.replaceChildren(
        img,
        link,
        h('p', { class: 'pair-note' }, `Scan it or open the link on your phone. Unused, it expires; once used it stays paired until revoked. Relay: ${status.state}.`),
      );
    }
  } catch (e) {
    body.replaceChildren(h('p', { class: 'pair-note' }, errorMessage(e)));
  }
  await refresh();
}

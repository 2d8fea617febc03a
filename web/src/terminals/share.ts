/**
 * The owner's read-only share links for one terminal (docs/protocol.md, "share link"): the Share
 * button creates a link and copies it; this panel lists that terminal's live links with their
 * expiry and viewers, each with Copy and Revoke. Revoking closes the viewers attached through it.
 */
import { api, errorMessage } from '../api.ts';
import { h } from '../dom.ts';
import { DisposableStore, listen, type Disposable } from '../lifecycle.ts';
import { toast } from '../toast.ts';
import { sharePageUrl } from './types.ts';

/** A share link as the REST API returns it. */
export interface ShareLinkInfo {
  id: string;
  terminalId: string;
  createdAt: string;
  expiresAt: string;
  viewers: number;
  share: string;
  url: string;
  wsPath: string;
}

/** "in 23 h 59 min", "in 4 min", "in 30 s", "expired". */
export function formatExpiry(iso: string, now = Date.now()): string {
  const s = Math.floor((Date.parse(iso) - now) / 1000);
  if (!Number.isFinite(s) || s <= 0) return 'expired';
  if (s < 60) return `in ${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `in ${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `in ${hours} h${min % 60 ? ` ${min % 60} min` : ''}`;
  return `in ${Math.floor(hours / 24)} days`;
}

export class SharePanel implements Disposable {
  readonly element: HTMLElement;
  readonly #store = new DisposableStore();
  /** Listeners of the rows on screen; replaced at each render. */
  readonly #rows = this.#store.add(new DisposableStore());
  readonly #list: HTMLElement;
  readonly #manual: HTMLInputElement;
  readonly #manualRow: HTMLElement;
  #terminalId: string | undefined;
  /** Answers to an older request (another terminal, an earlier refresh) are ignored. */
  #generation = 0;

  constructor() {
    const newBtn = h('button', { class: 'btn btn-small', type: 'button', 'data-testid': 'share-new' }, 'New link');
    const closeBtn = h('button', { class: 'tab-close', type: 'button', title: 'Close', 'aria-label': 'Close share links', 'data-testid': 'share-close' }, '×');
    this.#list = h('ul', { class: 'share-list', 'data-testid': 'share-list' });
    this.#manual = h('input', { class: 'share-manual', type: 'text', readonly: true, 'aria-label': 'Share link', 'data-testid': 'share-manual' });
    this.#manualRow = h('div', { class: 'share-manual-row', hidden: true }, h('span', { class: 'muted small' }, 'Copy this link by hand:'), this.#manual);
    this.element = h(
      'div',
      { class: 'share-panel', hidden: true, role: 'region', 'aria-label': 'Read-only share links', 'data-testid': 'share-panel' },
      h('div', { class: 'share-head' }, h('strong', {}, 'Read-only links'), h('span', { class: 'muted small share-hint' }, 'Anyone with a link can watch this terminal, not type, until it expires or you revoke it.'), newBtn, closeBtn),
      this.#manualRow,
      this.#list,
    );
    this.#store.add(listen(newBtn, 'click', () => this.#terminalId && void this.#create(this.#terminalId)));
    this.#store.add(listen(closeBtn, 'click', () => this.hide()));
    this.#store.add(listen(this.#manual, 'focus', () => this.#manual.select()));
  }

  /** The terminal whose links are shown, if the panel is open. */
  get terminalId(): string | undefined {
    return this.element.hidden ? undefined : this.#terminalId;
  }

  /** The Share button: a new link for `terminalId`, copied, and the panel listing its links. */
  async share(terminalId: string): Promise<void> {
    this.#show(terminalId);
    await this.#create(terminalId);
  }

  /** Shows `terminalId`'s links without creating one. */
  async open(terminalId: string): Promise<void> {
    this.#show(terminalId);
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const id = this.#terminalId;
    if (!id || this.element.hidden) return;
    const gen = ++this.#generation;
    try {
      const { shares } = await api<{ shares: ShareLinkInfo[] }>('GET', `/api/terminals/${encodeURIComponent(id)}/shares`);
      if (gen === this.#generation) this.#render(shares);
    } catch (err) {
      if (gen === this.#generation) toast(`Could not list the share links: ${errorMessage(err)}`, 'error');
    }
  }

  hide(): void {
    this.#generation++;
    this.element.hidden = true;
    this.#manualRow.hidden = true;
    this.#rows.clear();
    this.#list.replaceChildren();
  }

  #show(terminalId: string): void {
    if (this.#terminalId !== terminalId) this.hide();
    this.#terminalId = terminalId;
    this.element.hidden = false;
  }

  async #create(terminalId: string): Promise<void> {
    let link: ShareLinkInfo;
    try {
      link = await api<ShareLinkInfo>('POST', `/api/terminals/${encodeURIComponent(terminalId)}/shares`, {});
    } catch (err) {
      toast(`Could not create a share link: ${errorMessage(err)}`, 'error');
      return;
    }
    await this.#copy(link, `Read-only link copied; it expires ${formatExpiry(link.expiresAt)}.`);
    await this.refresh();
  }

  async #copy(link: ShareLinkInfo, okMessage = 'Read-only link copied.'): Promise<void> {
    const url = sharePageUrl(link.terminalId, link.share);
    try {
      await navigator.clipboard.writeText(url);
      this.#manualRow.hidden = true;
      toast(okMessage, 'ok');
    } catch {
      // No clipboard (plain http on a LAN address, or permission refused): offer it to copy by hand.
      this.#manual.value = url;
      this.#manualRow.hidden = false;
      this.#manual.focus();
    }
  }

  async #revoke(link: ShareLinkInfo, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await api('DELETE', `/api/terminals/shares/${encodeURIComponent(link.id)}`);
      toast(link.viewers > 0 ? `Link revoked: ${link.viewers} viewer${link.viewers === 1 ? ' was' : 's were'} disconnected.` : 'Link revoked.', 'ok');
    } catch (err) {
      // 404: already gone (expired, revoked elsewhere); the refresh shows what is left.
      toast(errorMessage(err), 'error');
    }
    await this.refresh();
  }

  #render(links: ShareLinkInfo[]): void {
    this.#rows.clear();
    if (links.length === 0) {
      this.#list.replaceChildren(h('li', { class: 'muted small share-empty' }, 'No live links for this terminal.'));
      return;
    }
    const now = Date.now();
    this.#list.replaceChildren(
      ...links.map((link) => {
        const copy = h('button', { class: 'btn btn-small btn-ghost', type: 'button', 'data-testid': 'share-copy' }, 'Copy');
        const revoke = h('button', { class: 'btn btn-small', type: 'button', 'data-testid': 'share-revoke' }, 'Revoke');
        this.#rows.add(listen(copy, 'click', () => void this.#copy(link)));
        this.#rows.add(listen(revoke, 'click', () => void this.#revoke(link, revoke)));
        const expires = new Date(link.expiresAt);
        return h(
          'li',
          { class: 'share-item', 'data-id': link.id, 'data-testid': 'share-item' },
          h('span', { class: 'share-expiry', title: `Expires ${expires.toLocaleString()}` }, `Expires ${formatExpiry(link.expiresAt, now)}`),
          h('span', { class: 'muted small' }, `${link.viewers} watching`),
          h('span', { class: 'spacer' }),
          copy,
          revoke,
        );
      }),
    );
  }

  dispose(): void {
    this.#store.dispose();
    this.element.remove();
  }
}

/**
 * A banner under the top bar while keel.db cannot take writes (locked by another process, disk
 * full): what happened, that edits are kept in memory, and what to do. It follows the health feed
 * (the live socket pushes a change of storage state at once) and is hidden while storage is fine.
 */
import { h, setText } from '../dom.ts';
import type { Disposable } from '../lifecycle.ts';
import type { HealthFeed } from './feed.ts';
import type { StorageInfo } from './types.ts';
import './storage-banner.css';

/** "Keel cannot save right now: 2 changes are kept in memory until they are written." and the server's reason (cause and what to do). */
export function storageMessage(s: StorageInfo): string {
  const n = s.pending_writes;
  const kept = n ? ` ${n} change${n === 1 ? ' is' : 's are'} kept in memory until ${n === 1 ? 'it is' : 'they are'} written.` : '';
  return `Keel cannot save right now.${kept} ${s.reason}`.trim();
}

export class StorageBanner implements Disposable {
  readonly element: HTMLElement;
  readonly #text: HTMLElement;
  readonly #sub: Disposable;

  constructor(feed: HealthFeed) {
    this.#text = h('span', { class: 'storage-banner-text' });
    this.element = h('div', { class: 'storage-banner', role: 'alert', 'data-testid': 'storage-banner', hidden: true }, this.#text);
    this.#sub = feed.subscribe((snap) => this.#render(snap.report?.storage));
  }

  #render(s: StorageInfo | undefined): void {
    const degraded = s?.state === 'degraded';
    this.element.hidden = !degraded;
    this.element.classList.toggle('storage-banner-full', s?.problem === 'full');
    if (degraded) setText(this.#text, storageMessage(s!));
  }

  dispose(): void {
    this.#sub.dispose();
    this.element.remove();
  }
}

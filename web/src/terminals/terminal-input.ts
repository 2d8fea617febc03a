/**
 * What the keyboard and the clipboard do around one terminal, beyond the bytes xterm.js sends:
 * the copy/paste keys and the "leave the terminal" key (shortcuts.ts), copy-on-select (a setting),
 * and a read-only viewer's typing answered at once with "read-only", in the page, before any round
 * trip (xterm.js drops a read-only viewer's keys silently, so typing looked like a frozen terminal).
 */
import type { Terminal } from '@xterm/xterm';
import { h } from '../dom.ts';
import { DisposableStore, Timer, listen, toDisposable, type Disposable } from '../lifecycle.ts';
import { stored, store } from '../storage.ts';
import { terminalShortcut, wouldType } from './shortcuts.ts';

/** Whether selecting text copies it (off by default, as in VS Code). */
const COPY_ON_SELECT_KEY = 'keel.terminal.copyOnSelect';
/** A selection that stopped changing this long ago is copied (not every step of a drag). */
const COPY_ON_SELECT_SETTLE_MS = 150;
/** How long the read-only notice stays after the last key. */
const READ_ONLY_HINT_MS = 2_500;

const MAC = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform);

export function copyOnSelect(): boolean {
  return stored(COPY_ON_SELECT_KEY) === '1';
}

export function setCopyOnSelect(on: boolean): void {
  store(COPY_ON_SELECT_KEY, on ? '1' : undefined);
}

/**
 * Puts text on the clipboard. The async Clipboard API needs a secure context (https or localhost);
 * Keel reached over plain http on a LAN address has none, so there the older synchronous copy
 * command is used (still allowed during a key press).
 */
export async function copyText(text: string): Promise<boolean> {
  if (!text) return false;
  if (window.isSecureContext && navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Denied (no focus, a policy): try the legacy way below.
    }
  }
  return legacyCopy(text);
}

function legacyCopy(text: string): boolean {
  const active = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const ta = h('textarea', { readonly: true, 'aria-hidden': 'true', style: 'position:fixed;left:-9999px;top:0;opacity:0' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    // No clipboard at all: the caller says so.
  }
  ta.remove();
  active?.focus();
  return ok;
}

export interface TerminalInputOptions {
  readOnly(): boolean;
  /** Ctrl+Shift+M: move focus out of the terminal (to its tab). */
  onLeave(): void;
  /** Where the read-only notice shows (over the terminal). */
  hintParent: HTMLElement;
}

export class TerminalInput implements Disposable {
  readonly #term: Terminal;
  readonly #o: TerminalInputOptions;
  readonly #store = new DisposableStore();
  readonly #hintTimer = this.#store.add(new Timer());
  readonly #selectTimer = this.#store.add(new Timer());
  readonly #hint: HTMLElement;

  constructor(term: Terminal, o: TerminalInputOptions) {
    this.#term = term;
    this.#o = o;
    this.#hint = h('div', { class: 'ro-hint', role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'read-only-hint' }, 'Read-only: you can watch this terminal, not type.');
    o.hintParent.append(this.#hint);
    this.#store.add(toDisposable(() => this.#hint.remove()));
    // Screen readers announce the way out with the terminal's input (Tab belongs to the shell).
    term.textarea?.setAttribute('aria-description', 'Ctrl+Shift+M leaves the terminal. Ctrl+C copies a selection; Ctrl+V pastes.');
    term.attachCustomKeyEventHandler((e) => this.#onKey(e));
    this.#store.add(toDisposable(() => term.attachCustomKeyEventHandler(() => true)));
    this.#store.add(
      term.onSelectionChange(() => {
        if (!copyOnSelect() || !term.hasSelection()) return;
        this.#selectTimer.set(() => void copyText(term.getSelection()), COPY_ON_SELECT_SETTLE_MS);
      }),
    );
    // A paste from the context menu or a phone's paste bubble, not only the keys.
    const el = term.element;
    if (el) {
      this.#store.add(
        listen(el, 'paste', (e) => {
          if (!o.readOnly()) return;
          e.preventDefault();
          e.stopImmediatePropagation();
          this.#showReadOnly();
        }, { capture: true }),
      );
    }
  }

  /** xterm.js asks before handling each key event: false means "not yours". */
  #onKey(e: KeyboardEvent): boolean {
    const ro = this.#o.readOnly();
    switch (terminalShortcut(e, this.#term.hasSelection(), MAC)) {
      case 'copy':
        e.preventDefault();
        void copyText(this.#term.getSelection());
        // Cleared, so the next Ctrl+C interrupts as usual (Windows Terminal does the same).
        this.#term.clearSelection();
        return false;
      case 'paste':
        // Left to the browser: its paste event reaches xterm.js, which pastes (bracketed when asked).
        if (ro) {
          e.preventDefault();
          this.#showReadOnly();
        }
        return false;
      case 'leave':
        e.preventDefault();
        this.#o.onLeave();
        return false;
      case 'swallow':
        e.preventDefault();
        return false;
      case undefined:
        break;
    }
    if (ro && wouldType(e)) {
      // Tab and Escape keep their browser meaning for a viewer (moving focus, closing things).
      if (e.key !== 'Tab' && e.key !== 'Escape') e.preventDefault();
      this.#showReadOnly();
      return false;
    }
    return true;
  }

  #showReadOnly(): void {
    this.#hint.hidden = false;
    this.#hintTimer.set(() => (this.#hint.hidden = true), READ_ONLY_HINT_MS);
  }

  dispose(): void {
    this.#store.dispose();
  }
}

/**
 * The terminal's own keyboard shortcuts (VS Code's integrated terminal on Linux/Windows is the
 * reference), decided from a key event alone. Pure: unit-tested under Node, and the same list feeds
 * the Keys help dialog so the help cannot drift from what the keys do.
 *
 * - Ctrl+C copies when text is selected (and clears the selection, so a second Ctrl+C interrupts);
 *   without a selection it is the program's interrupt, as always.
 * - Ctrl+Shift+C copies; Ctrl+V and Ctrl+Shift+V paste (as the browser's own paste: xterm.js turns it
 *   into bracketed paste when the program asked for it, and it needs no clipboard permission).
 * - Ctrl+Shift+M leaves the terminal (focus goes to its tab), for keyboard users: Tab belongs to
 *   the shell. Chosen because no terminal program can receive it distinctly from Enter (Ctrl+M is
 *   CR), so nothing is taken from them.
 */
export type ShortcutAction = 'copy' | 'paste' | 'leave' | 'swallow';

export interface KeyLike {
  type: string;
  key: string;
  code: string;
  ctrlKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
  metaKey: boolean;
}

/** The letter a shortcut means: the typed letter on Latin layouts (Dvorak's C is where QWERTY's I is), the physical key otherwise (Cyrillic, Greek…). */
export function shortcutLetter(e: Pick<KeyLike, 'key' | 'code'>): string {
  if (/^[a-zA-Z]$/.test(e.key)) return e.key.toLowerCase();
  const m = /^Key([A-Z])$/.exec(e.code);
  return m ? m[1]!.toLowerCase() : '';
}

/**
 * What a keydown means to the page, or undefined when it goes to the program as usual.
 * `swallow`: nothing is sent and the browser does nothing (Ctrl+Shift+C without a selection would
 * otherwise send ^C or open the browser's element inspector).
 */
export function terminalShortcut(e: KeyLike, hasSelection: boolean, mac = false): ShortcutAction | undefined {
  if (e.type !== 'keydown' || e.altKey) return undefined;
  const letter = shortcutLetter(e);
  if (mac && e.metaKey && !e.ctrlKey) {
    if (letter === 'c') return hasSelection ? 'copy' : undefined;
    if (letter === 'v') return 'paste';
    return undefined;
  }
  if (!e.ctrlKey || e.metaKey) return undefined;
  if (e.shiftKey) {
    if (letter === 'c') return hasSelection ? 'copy' : 'swallow';
    if (letter === 'v') return 'paste';
    if (letter === 'm') return 'leave';
    return undefined;
  }
  if (letter === 'c') return hasSelection ? 'copy' : undefined;
  if (letter === 'v') return 'paste';
  return undefined;
}

/** Keys that change nothing for the program (modifiers alone, scrolling the page's own view). */
const INERT_KEYS = new Set(['Shift', 'Control', 'Alt', 'Meta', 'AltGraph', 'CapsLock', 'NumLock', 'ScrollLock', 'Fn', 'OS', 'ContextMenu', 'Dead', 'Unidentified']);

/** Whether a keydown would type into the terminal (so a read-only viewer is told at once that it cannot). */
export function wouldType(e: KeyLike): boolean {
  if (e.type !== 'keydown' || INERT_KEYS.has(e.key)) return false;
  // Shift+PageUp/PageDown/Home/End scroll the page's own scrollback.
  if (e.shiftKey && /^(PageUp|PageDown|Home|End)$/.test(e.key)) return false;
  // Browser shortcuts (Ctrl+T, Ctrl+L, Ctrl+F…) are the browser's; F-keys too.
  if (e.metaKey || /^F\d+$/.test(e.key)) return false;
  return true;
}

/** The shortcuts as the help shows them (keys, what they do). */
export const TERMINAL_SHORTCUTS: readonly { keys: string; what: string }[] = [
  { keys: 'Ctrl+C', what: 'Copy the selection (then clear it); without a selection, interrupt the program' },
  { keys: 'Ctrl+Shift+C', what: 'Copy the selection' },
  { keys: 'Ctrl+V, Ctrl+Shift+V', what: 'Paste (bracketed paste when the program asked for it)' },
  { keys: 'Ctrl+Shift+M', what: 'Leave the terminal: focus goes to its tab (Tab itself belongs to the shell)' },
  { keys: '← / → on a tab', what: 'Switch tabs; Enter or F2 renames, Delete closes' },
  { keys: 'Shift+PageUp / PageDown', what: 'Scroll the scrollback' },
  { keys: 'Mouse wheel', what: 'Scroll 3 lines a notch (Alt: 5× faster), as in VS Code' },
  { keys: 'Swipe (touch)', what: 'Scroll the scrollback; sideways pans a terminal shown larger than the screen' },
];

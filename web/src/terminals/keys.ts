/**
 * Bytes for the phone key bar. Pure functions, unit-tested under Node.
 * Arrow keys follow the terminal's cursor-key mode (DECCKM): `ESC O A` in application mode
 * (vim, less), `ESC [ A` otherwise.
 */
export type Arrow = 'up' | 'down' | 'right' | 'left';

const ARROW_LETTER: Record<Arrow, string> = { up: 'A', down: 'B', right: 'C', left: 'D' };

export function arrowBytes(arrow: Arrow, applicationCursor: boolean, ctrl = false): string {
  const l = ARROW_LETTER[arrow];
  if (ctrl) return `\x1b[1;5${l}`;
  return applicationCursor ? `\x1bO${l}` : `\x1b[${l}`;
}

/**
 * Applies a sticky Ctrl to typed input: `c` → ETX (0x03), `[` → ESC, `?` → DEL, space → NUL.
 * Only the first character is modified (the sticky modifier is one-shot); input that has no
 * control form (digits, most punctuation, multi-byte characters) is passed through unchanged.
 */
export function applyCtrl(data: string): string {
  if (data.length === 0) return data;
  const first = data[0]!;
  const rest = data.slice(1);
  const code = first.charCodeAt(0);
  if (first === ' ' || first === '@' || first === '2') return '\x00' + rest;
  if (first === '?' || first === '8') return '\x7f' + rest;
  if (first === '3') return '\x1b' + rest;
  if (first === '4') return '\x1c' + rest;
  if (first === '5') return '\x1d' + rest;
  if (first === '6') return '\x1e' + rest;
  if (first === '7' || first === '/' || first === '-') return '\x1f' + rest;
  if (code >= 0x61 && code <= 0x7a) return String.fromCharCode(code - 0x60) + rest; // a-z
  if (code >= 0x40 && code <= 0x5f) return String.fromCharCode(code - 0x40) + rest; // @, A-Z, [ \ ] ^ _
  // Arrow sequences from the key bar are handled by arrowBytes(…, ctrl).
  return data;
}

export interface KeyDef {
  /** Label on the button. */
  label: string;
  /** Accessible name. */
  title: string;
  kind: 'bytes' | 'arrow' | 'ctrl';
  bytes?: string;
  arrow?: Arrow;
}

/** The key bar, in order. */
export const KEY_BAR: readonly KeyDef[] = [
  { label: 'Esc', title: 'Escape', kind: 'bytes', bytes: '\x1b' },
  { label: 'Tab', title: 'Tab', kind: 'bytes', bytes: '\t' },
  { label: 'Ctrl', title: 'Control (applies to the next key)', kind: 'ctrl' },
  { label: '←', title: 'Left', kind: 'arrow', arrow: 'left' },
  { label: '↑', title: 'Up', kind: 'arrow', arrow: 'up' },
  { label: '↓', title: 'Down', kind: 'arrow', arrow: 'down' },
  { label: '→', title: 'Right', kind: 'arrow', arrow: 'right' },
  { label: '|', title: 'Pipe', kind: 'bytes', bytes: '|' },
  { label: '~', title: 'Tilde', kind: 'bytes', bytes: '~' },
];

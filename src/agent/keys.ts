/**
 * Named keys the agent can press in a terminal, as the bytes a terminal sends for them (xterm,
 * normal cursor mode: what bash, zsh, vim, less and most TUIs accept).
 */

const CTRL_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export const KEY_BYTES: Readonly<Record<string, string>> = {
  Enter: '\r',
  Tab: '\t',
  'Shift+Tab': '\x1b[Z',
  Backspace: '\x7f',
  Delete: '\x1b[3~',
  Esc: '\x1b',
  Up: '\x1b[A',
  Down: '\x1b[B',
  Right: '\x1b[C',
  Left: '\x1b[D',
  Home: '\x1b[H',
  End: '\x1b[F',
  PageUp: '\x1b[5~',
  PageDown: '\x1b[6~',
  Space: ' ',
  ...Object.fromEntries([...CTRL_LETTERS].map((c, i) => [`Ctrl+${c}`, String.fromCharCode(i + 1)])),
  'Ctrl+\\': '\x1c',
  'Ctrl+]': '\x1d',
};

export const KEY_NAMES = Object.keys(KEY_BYTES) as [string, ...string[]];

/** Common spellings models use, mapped to the names above. */
const ALIASES: Record<string, string> = {
  return: 'Enter',
  escape: 'Esc',
  arrowup: 'Up',
  arrowdown: 'Down',
  arrowleft: 'Left',
  arrowright: 'Right',
  del: 'Delete',
  pgup: 'PageUp',
  pgdn: 'PageDown',
};

/** The canonical key name for `name` (case-insensitive, "ArrowUp", "Escape", "ctrl-c", "^C" accepted), or undefined. */
export function keyName(name: string): string | undefined {
  const raw = name.trim();
  const caret = /^\^([a-z\\\]])$/i.exec(raw);
  let n = caret ? `ctrl+${caret[1]}` : raw.replace(/^(ctrl|control|c)[-+]/i, 'ctrl+');
  n = n.toLowerCase();
  if (ALIASES[n.replace(/[\s_-]/g, '')]) return ALIASES[n.replace(/[\s_-]/g, '')];
  return KEY_NAMES.find((k) => k.toLowerCase() === n);
}

/** The bytes for a key name; throws with the list of valid names. */
export function keyBytes(name: string): string {
  const k = keyName(name);
  if (!k) throw new Error(`unknown key "${name}"; valid keys: ${KEY_NAMES.join(', ')}`);
  return KEY_BYTES[k]!;
}

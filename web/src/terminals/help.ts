/**
 * The Terminals page's "Keys" dialog: the terminal's shortcuts (from shortcuts.ts, so the help is
 * what the keys do) and its one setting, copy on select.
 */
import { messageDialog } from '../dialog.ts';
import { h } from '../dom.ts';
import { TERMINAL_SHORTCUTS } from './shortcuts.ts';
import { copyOnSelect, setCopyOnSelect } from './terminal-input.ts';

export function showTerminalHelp(): Promise<void> {
  const rows = TERMINAL_SHORTCUTS.map((s) => h('tr', {}, h('th', { scope: 'row' }, h('kbd', {}, s.keys)), h('td', {}, s.what)));
  const table = h('table', { class: 'keys-table', 'data-testid': 'shortcut-table' }, h('tbody', {}, ...rows));
  const box = h('input', { type: 'checkbox', 'data-testid': 'copy-on-select' });
  box.checked = copyOnSelect();
  box.addEventListener('change', () => setCopyOnSelect(box.checked));
  const setting = h('label', { class: 'dialog-check' }, box, h('span', {}, 'Copy on select: selecting text copies it, without a key'));
  return messageDialog({ title: 'Terminal keys', body: h('div', {}, table, setting), testId: 'terminal-help' });
}

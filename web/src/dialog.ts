/**
 * In-page dialogs instead of `prompt()` / `confirm()`: those block the page (terminal output and
 * acknowledgements stop while one is open), look like a browser warning, and phones render them
 * badly. One small module on the native `<dialog>` element: `showModal()` makes the rest of the page
 * inert and gives Escape; this adds a focus trap that also keeps Tab inside when the browser would
 * move it to its own toolbar, a label (`aria-labelledby`/`aria-describedby`), and focus returned to
 * whatever had it before.
 */
import { h } from './dom.ts';

export interface DialogButton<T> {
  label: string;
  value: T;
  kind?: 'primary' | 'danger' | 'ghost';
  testId?: string;
}

export interface DialogOptions<T> {
  title: string;
  /** A paragraph under the title (text, or nodes for formatted content). */
  message?: string | Node;
  /** Extra content between the message and the buttons (an input, a list of keys…). */
  body?: Node;
  buttons: DialogButton<T>[];
  /** What Escape, the close button and a click outside give. */
  cancelValue: T;
  /** The element focused first (default: the first input, else the primary button). */
  initialFocus?: HTMLElement;
  /** Called when a button is pressed; return false to keep the dialog open (e.g. an empty name). */
  validate?: (value: T) => boolean;
  testId?: string;
}

let seq = 0;
const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), a[href], [tabindex]:not([tabindex="-1"])';

/** Opens a modal dialog; resolves with the value of the button pressed, or `cancelValue`. */
export function openDialog<T>(o: DialogOptions<T>): Promise<T> {
  const id = `dlg-${++seq}`;
  const titleEl = h('h2', { class: 'dialog-title', id: `${id}-title` }, o.title);
  const msgEl = o.message === undefined ? null : h('div', { class: 'dialog-message', id: `${id}-msg` }, o.message);
  const buttons = o.buttons.map((b) => h('button', { class: `btn ${b.kind === 'primary' ? 'btn-primary' : b.kind === 'danger' ? 'btn-danger' : 'btn-ghost'}`, type: 'button', 'data-testid': b.testId }, b.label));
  const dlg = h(
    'dialog',
    { class: 'dialog', 'aria-labelledby': `${id}-title`, 'aria-describedby': msgEl ? `${id}-msg` : undefined, 'data-testid': o.testId ?? 'dialog' },
    titleEl,
    msgEl,
    o.body ?? null,
    h('div', { class: 'dialog-actions' }, ...buttons),
  );
  const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  document.body.append(dlg);

  return new Promise<T>((resolve) => {
    let done = false;
    const finish = (value: T) => {
      if (done) return;
      done = true;
      document.removeEventListener('keydown', onKey, true);
      dlg.close();
      dlg.remove();
      // Back where the user was (the terminal, the list item…), unless that element is gone.
      if (before?.isConnected) before.focus();
      resolve(value);
    };
    const press = (value: T) => {
      if (o.validate && !o.validate(value)) return;
      finish(value);
    };
    o.buttons.forEach((b, i) => buttons[i]!.addEventListener('click', () => press(b.value)));
    // Escape: the browser fires `cancel`; we close ourselves so the promise always settles once.
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(o.cancelValue);
    });
    // A click on the backdrop (the dialog element itself, outside its content box) cancels.
    dlg.addEventListener('click', (e) => {
      if (e.target !== dlg) return;
      const r = dlg.getBoundingClientRect();
      if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) finish(o.cancelValue);
    });
    // Enter in a text field presses the primary button.
    dlg.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || e.isComposing || !(e.target instanceof HTMLInputElement)) return;
      const primary = o.buttons.find((b) => b.kind === 'primary' || b.kind === 'danger');
      if (!primary) return;
      e.preventDefault();
      press(primary.value);
    });
    // The focus trap: Tab and Shift+Tab wrap inside the dialog (capture: before anything else sees them).
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Tab') return;
      const items = [...dlg.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
      if (!items.length) return;
      const first = items[0]!;
      const last = items[items.length - 1]!;
      const active = document.activeElement;
      if (e.shiftKey && (active === first || !dlg.contains(active))) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && (active === last || !dlg.contains(active))) {
        e.preventDefault();
        first.focus();
      }
    };
    document.addEventListener('keydown', onKey, true);
    dlg.showModal();
    const primaryIdx = o.buttons.findIndex((b) => b.kind === 'primary' || b.kind === 'danger');
    const first = o.initialFocus ?? dlg.querySelector<HTMLElement>('input, textarea') ?? buttons[primaryIdx] ?? buttons[0];
    first?.focus();
    // A prefilled name is selected, so typing replaces it (what prompt() did).
    if (first instanceof HTMLInputElement) first.select();
  });
}

/** Asks a yes/no question. `danger`: the confirming button is red (deleting, ending a program). */
export function confirmDialog(o: { title: string; message?: string | Node; confirm: string; cancel?: string; danger?: boolean; testId?: string }): Promise<boolean> {
  return openDialog<boolean>({
    title: o.title,
    message: o.message,
    cancelValue: false,
    testId: o.testId ?? 'confirm-dialog',
    buttons: [
      { label: o.cancel ?? 'Cancel', value: false, kind: 'ghost', testId: 'dialog-cancel' },
      { label: o.confirm, value: true, kind: o.danger ? 'danger' : 'primary', testId: 'dialog-confirm' },
    ],
  });
}

/**
 * Asks for a line of text; resolves with it trimmed, or undefined when cancelled. An empty answer
 * keeps the dialog open (the field says why), so it never resolves to "".
 */
export async function promptDialog(o: { title: string; label: string; value?: string; maxLength?: number; confirm?: string; message?: string; testId?: string }): Promise<string | undefined> {
  const input = h('input', { class: 'dialog-input', type: 'text', 'aria-label': o.label, maxlength: o.maxLength, 'data-testid': 'dialog-input', spellcheck: 'false' });
  input.value = o.value ?? '';
  const hint = h('div', { class: 'dialog-hint', role: 'alert', hidden: true }, `${o.label} cannot be empty.`);
  const label = h('label', { class: 'dialog-field' }, h('span', { class: 'dialog-label' }, o.label), input, hint);
  const ok = await openDialog<boolean>({
    title: o.title,
    message: o.message,
    body: label,
    cancelValue: false,
    initialFocus: input,
    testId: o.testId ?? 'prompt-dialog',
    validate: (v) => {
      if (!v || input.value.trim()) return true;
      hint.hidden = false;
      input.focus();
      return false;
    },
    buttons: [
      { label: 'Cancel', value: false, kind: 'ghost', testId: 'dialog-cancel' },
      { label: o.confirm ?? 'OK', value: true, kind: 'primary', testId: 'dialog-confirm' },
    ],
  });
  return ok ? input.value.trim().slice(0, o.maxLength ?? Infinity) : undefined;
}

/** Shows information (with optional body content) and one Close button. */
export async function messageDialog(o: { title: string; message?: string | Node; body?: Node; close?: string; testId?: string }): Promise<void> {
  await openDialog<void>({ title: o.title, message: o.message, body: o.body, cancelValue: undefined, testId: o.testId ?? 'message-dialog', buttons: [{ label: o.close ?? 'Close', value: undefined, kind: 'primary', testId: 'dialog-close' }] });
}

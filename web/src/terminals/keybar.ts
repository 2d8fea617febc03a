/**
 * The phone key bar: keys an on-screen keyboard lacks. Buttons act on pointerdown and cancel the
 * default, so the terminal keeps focus and the keyboard stays open. Ctrl is sticky: it applies to
 * the next key, typed or tapped, then releases (tap it twice to lock it until tapped again).
 */
import { h } from '../dom.ts';
import { DisposableStore, Timer, listen, type Disposable } from '../lifecycle.ts';
import { KEY_BAR, applyCtrl, arrowBytes, type KeyDef } from './keys.ts';

/** Holding an arrow repeats it after this delay… */
const REPEAT_DELAY_MS = 400;
/** …every this often. */
const REPEAT_EVERY_MS = 70;

export interface KeyBarTarget {
  sendKeys(data: string): void;
  readonly applicationCursor: boolean;
  focus(): void;
}

export class KeyBar implements Disposable {
  readonly element: HTMLElement;
  readonly #store = new DisposableStore();
  readonly #repeat = this.#store.add(new Timer());
  readonly #target: () => KeyBarTarget | undefined;
  #ctrl: 'off' | 'once' | 'locked' = 'off';
  #ctrlBtn: HTMLButtonElement | undefined;

  constructor(target: () => KeyBarTarget | undefined) {
    this.#target = target;
    this.element = h('div', { class: 'keybar', role: 'toolbar', 'aria-label': 'Terminal keys' });
    for (const k of KEY_BAR) this.element.append(this.#button(k));
    const stop = () => this.#repeat.cancel();
    this.#store.add(listen(window, 'pointerup', stop));
    this.#store.add(listen(window, 'pointercancel', stop));
    this.#store.add(listen(window, 'blur', stop));
  }

  /** Applies the sticky Ctrl to typed input (called for every onData). */
  filter(data: string): string {
    if (this.#ctrl === 'off') return data;
    const out = applyCtrl(data);
    if (this.#ctrl === 'once') this.#setCtrl('off');
    return out;
  }

  get ctrl(): 'off' | 'once' | 'locked' {
    return this.#ctrl;
  }

  #setCtrl(v: 'off' | 'once' | 'locked'): void {
    this.#ctrl = v;
    if (!this.#ctrlBtn) return;
    this.#ctrlBtn.classList.toggle('armed', v !== 'off');
    this.#ctrlBtn.classList.toggle('locked', v === 'locked');
    this.#ctrlBtn.setAttribute('aria-pressed', String(v !== 'off'));
  }

  #button(k: KeyDef): HTMLButtonElement {
    const btn = h('button', { class: `key key-${k.kind}`, type: 'button', title: k.title, 'aria-label': k.title, 'data-key': k.label }, k.label);
    if (k.kind === 'ctrl') {
      this.#ctrlBtn = btn;
      btn.setAttribute('aria-pressed', 'false');
    }
    const act = () => this.#press(k);
    this.#store.add(
      listen(btn, 'pointerdown', (e) => {
        // Keep focus (and the on-screen keyboard) on the terminal.
        e.preventDefault();
        act();
        if (k.kind === 'arrow') {
          const again = () => {
            act();
            this.#repeat.set(again, REPEAT_EVERY_MS);
          };
          this.#repeat.set(again, REPEAT_DELAY_MS);
        }
      }),
    );
    // Keyboard activation (Enter/Space on a focused key) arrives as a click with detail 0.
    this.#store.add(listen(btn, 'click', (e) => e.detail === 0 && act()));
    return btn;
  }

  #press(k: KeyDef): void {
    const t = this.#target();
    if (k.kind === 'ctrl') {
      this.#setCtrl(this.#ctrl === 'off' ? 'once' : this.#ctrl === 'once' ? 'locked' : 'off');
      return;
    }
    if (!t) return;
    if (k.kind === 'arrow') {
      t.sendKeys(arrowBytes(k.arrow!, t.applicationCursor, this.#ctrl !== 'off'));
      if (this.#ctrl === 'once') this.#setCtrl('off');
    } else {
      t.sendKeys(this.filter(k.bytes!));
    }
  }

  dispose(): void {
    this.#store.dispose();
    this.element.remove();
  }
}

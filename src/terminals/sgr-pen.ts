/**
 * The pen (xterm's current attributes) as the mirror fast-forward needs to know it (fast-forward.ts):
 * whether it is exactly what `CSI 0 m` would make of it, and a version that changes with every SGR.
 * Modelled on xterm's InputHandler (charAttributes, _processSGR0, _processUnderline); hand-written
 * because xterm exposes no parser state.
 */

/**
 * The simple SGR attributes, by parameter: a positive entry sets those attribute bits, a negative
 * one (a mask) clears them, 0 is anything else (extended colours 38/48/58, 59, attributes xterm
 * ignores). Each bit is one part of xterm's pen that SGR 0 resets and a closing parameter (22-29,
 * 39, 49, 55) resets exactly as SGR 0 does, so no bits set means the pen equals SGR 0's.
 */
const SGR_ATTRS: Int16Array = (() => {
  const [FG, BG, BOLD, DIM, ITALIC, UNDERLINE, BLINK, INVERSE, INVISIBLE, STRIKE, OVERLINE] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
  const t = new Int16Array(108);
  const set = (v: number, bits: number) => (t[v] = bits);
  const clear = (v: number, bits: number) => (t[v] = ~bits);
  for (let v = 30; v <= 37; v++) {
    set(v, FG);
    set(v + 60, FG);
    set(v + 10, BG);
    set(v + 70, BG);
  }
  for (const [v, bits] of [[1, BOLD], [2, DIM], [3, ITALIC], [4, UNDERLINE], [21, UNDERLINE], [5, BLINK], [7, INVERSE], [8, INVISIBLE], [9, STRIKE], [53, OVERLINE]] as const) set(v, bits);
  for (const [v, bits] of [[22, BOLD | DIM], [23, ITALIC], [24, UNDERLINE], [25, BLINK], [27, INVERSE], [28, INVISIBLE], [29, STRIKE], [55, OVERLINE], [39, FG], [49, BG]] as const) clear(v, bits);
  return t;
})();

export class SgrPen {
  /** SGR sequences applied so far: equal versions at two offsets mean the same pen in between. */
  version = 0;
  /** Simple attributes set and not closed since the last SGR 0 (SGR_ATTRS bits). */
  #dirty = 0;
  /** Something not modelled touched the pen since the last SGR 0. */
  #exotic = false;

  /** The pen is exactly what SGR 0 makes of it (everything but the hyperlink reset). */
  get clean(): boolean {
    return this.#dirty === 0 && !this.#exotic;
  }

  /** A sequence other than SGR set the pen (DECRC, SCORC, DECSTR, DECSCA, RIS, a 1048/1049 restore). */
  touched(): void {
    this.#exotic = true;
  }

  /** `CSI params m`, as xterm's charAttributes applies it; `odd`: sub-parameters or parameters out of range. */
  sgr(params: readonly number[], odd: boolean): void {
    this.version++;
    if (odd) {
      this.#exotic = true;
      return;
    }
    for (const v of params) {
      if (v === 0) {
        this.#dirty = 0;
        this.#exotic = false;
        continue;
      }
      const a = v < SGR_ATTRS.length ? SGR_ATTRS[v]! : 0;
      if (a > 0) this.#dirty |= a;
      else if (a < 0) this.#dirty &= a;
      else {
        // 38/48/58 take the parameters after them as a colour: stop reading here.
        this.#exotic = true;
        return;
      }
    }
  }
}

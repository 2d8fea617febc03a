/**
 * How a terminal whose size another device controls is shown on this one (docs/protocol.md, Size):
 * at its real size, scaled down to fit the box, never below a legible font; past that, panned.
 * Pure arithmetic, tested under Node.
 */

/** Smallest font a scaled-down terminal is shown at (CSS px): below it, pan instead of shrinking. */
export const MIN_LEGIBLE_FONT_PX = 8;

export interface Fit {
  /** CSS scale applied to the terminal (1: its natural size). */
  scale: number;
  /** The scaled terminal is still larger than the box: the box scrolls (pans) to show the rest. */
  pan: boolean;
}

/**
 * The scale for a terminal of `need` CSS px in a box of `avail` CSS px: 1 when it fits, else the
 * largest scale that fits both ways, but no smaller than the legible minimum for `fontPx`.
 */
export function fitTerminal(avail: { width: number; height: number }, need: { width: number; height: number }, fontPx: number): Fit {
  if (need.width <= 0 || need.height <= 0 || avail.width <= 0 || avail.height <= 0) return { scale: 1, pan: false };
  const min = Math.min(1, MIN_LEGIBLE_FONT_PX / fontPx);
  const fits = Math.min(1, avail.width / need.width, avail.height / need.height);
  const scale = Math.max(min, fits);
  // Rounding: a terminal within half a pixel of the box fits.
  const pan = need.width * scale > avail.width + 0.5 || need.height * scale > avail.height + 0.5;
  return { scale, pan };
}

/**
 * Cuts PTY output at UTF-8 character boundaries: the 1–3 bytes of a character a read ends inside
 * are held and put in front of the next read.
 *
 * Why: xterm.js 6.0's UTF-8 decoder (Utf8ToUtf32.decode) loses a character split across two
 * writes when one of the bytes it kept is 0x80. It marks "no byte kept" with 0 and reads the kept
 * continuation bytes as `interim[pos] & 0x3f`, which is 0 for 0x80, so it counts one byte too
 * few, reads one byte too many from the next write, and drops the character (and overwrites what
 * it kept). `…` is E2 80 A6: split after E2 80, it vanishes; so do — ‘ ’ “ ” • (E2 80 xx) and the
 * zero-width joiner (E2 80 8D), which is how 10–17 lines per 1.6 MB of typographic text came out
 * damaged in the mirror (which wrote each ≤ 4 KiB read on its own) and not in viewers (whose frames
 * join reads). utf8-boundary.test.ts reproduces it on a bare terminal. The fix upstream is to test
 * the kept byte itself (`interim[++pos]`), not its low six bits.
 *
 * Cutting here, before the session hands output to the mirror and to viewers, means no terminal
 * (the mirror, browsers, any client) ever gets a character in two writes from Keel.
 */

/** Bytes of `b` up to its last complete character (the rest is a character cut short, at most 3 bytes). */
export function completeLength(b: Uint8Array): number {
  const n = b.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const byte = b[n - k]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    if (byte < 0xc0 || byte >= 0xf8) return n; // ASCII, or a byte no character starts with
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return k < need ? n - k : n;
  }
  return n;
}

/** Holds the cut-short tail of each chunk for the next one. */
export class Utf8Carry {
  #carry: Buffer | undefined;

  /** Bytes held from the last chunk (0–3). */
  get heldBytes(): number {
    return this.#carry?.length ?? 0;
  }

  /** `data` with the held bytes in front, up to its last complete character (may be empty). */
  push(data: Buffer): Buffer {
    const whole = this.#carry ? Buffer.concat([this.#carry, data]) : data;
    const n = completeLength(whole);
    this.#carry = n < whole.length ? Buffer.from(whole.subarray(n)) : undefined;
    return n === whole.length ? whole : whole.subarray(0, n);
  }

  /** The held bytes, if any (the output ended inside a character). */
  flush(): Buffer | undefined {
    const c = this.#carry;
    this.#carry = undefined;
    return c;
  }
}

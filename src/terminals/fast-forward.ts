/**
 * Lossless fast-forward of a terminal mirror through floods of text.
 *
 * xterm parses a few MB/s; a program printing plain lines faster than that would otherwise pause its
 * PTY on the mirror's backlog. While the mirror is behind, output is held here (not yet posted to the
 * worker) and, when provably invisible in the final state, dropped:
 *
 * A held run is output that, decoded as xterm decodes it, contains only printable characters,
 * CR, LF, VT, FF, BS, HT, BEL, SGR (`CSI Pm m`) and EL (`CSI Ps K`), starting with the parser in
 * GROUND and the terminal in a "safe" mode state: no scroll region on the active buffer and
 * reverse-wraparound off (the two modes under which a line feed might not scroll or a backspace
 * might move up). None of those changes any other terminal state (charsets, modes, tab stops, saved
 * cursor, hyperlink): only cells, the cursor's column, line wrap flags and the pen (SGR).
 *
 * A cut is placed right before a CR, in GROUND, with at least 2·rows + scrollback + 1 line
 * advances of the run after it: LFs, and the wraps of lines whose column is known (printable ASCII
 * from a CR on, with autowrap on and LNM off, counted exactly as xterm's print wraps; after a tab,
 * a BS or a non-ASCII character the rest of the line counts only its LF). The pen there must be
 * provably the same in both streams: either no SGR came between the last posted byte and the cut,
 * or the pen at the cut is what SGR 0 makes of it (every attribute set since the last SGR 0 was
 * closed again, e.g. `ESC[32m…ESC[39m` or `ESC[1m…ESC[0m`) and a `CSI 0 m` is posted in place of
 * the dropped part (SGR 0 resets all of the pen but the hyperlink, which a run cannot change; its
 * ESC also ends any sequence a split left open). From the CR on, the cursor's column is the same
 * whatever came before; after at most rows − 1 further advances its row is the bottom one in
 * either case; from then every advance scrolls, and rows + scrollback scrolls replace every buffer
 * line by one created blank (same erase attributes, as the pen is the same) and written
 * identically. So the state after (prefix + tail from the cut) equals the state after (prefix +
 * dropped part + tail): the dropped part is skipped. Coloured output (`ls --color`, grep,
 * compilers, chalk-style `ESC[32m…ESC[39m`) closes its colours by the end of each line, so it is
 * skipped like plain text, and so are lines of any length (a 20,000-character line is 167 advances
 * at 120 columns); output that leaves a colour set is parsed in full.
 *
 * Decoding: the scanner runs xterm's UTF-8 decoder (Utf8ToUtf32, same chunking as the original
 * writes) and its VT500 transition table on the same bytes, so it knows the parser state exactly.
 * Output is only ever split right before or right after an ASCII byte (or at an original chunk
 * boundary), where xterm's decoding of either side does not depend on the other.
 */

import { SgrPen } from './sgr-pen.ts';
import { A, isPlain, NON_ASCII_PRINTABLE, S, TABLE } from './vt500-table.ts';

/** Cut candidates are recorded at most once per this many line advances. */
const CANDIDATE_EVERY_LF = 32;
/** Posted in place of a dropped part whose pen changes cannot be proven absent (see above). */
const SGR_RESET = new Uint8Array([0x1b, 0x5b, 0x30, 0x6d]);

const MAX_PARAMS = 32;

/** A CSI parameter byte (0-9 ; :) into `p`, as the scanner keeps them; true when the parameters get too odd to model (sub-parameters, too many, too large). */
function addParamByte(p: number[], c: number): boolean {
  if (c === 0x3b) {
    if (p.length >= MAX_PARAMS) return true;
    p.push(0);
    return false;
  }
  if (c === 0x3a) return true;
  const k = p.length - 1;
  const v = p[k]! * 10 + (c - 0x30);
  p[k] = Math.min(v, 0x7fffffff);
  return v > 0x7fffffff;
}

export interface FastForwardStats {
  skippedBytes: number;
}

/**
 * Sits in front of a mirror: `write` every output chunk in order; what must be parsed is passed to
 * `post` (in order, split only where decoding is unaffected); `hold` allows holding plain text and
 * skipping what is provably invisible. `flush` posts whatever is held (before a snapshot, resize or
 * any other request, and when output has been quiet; the mirror decides when, mirror.ts).
 */
export class FastForward {
  readonly #post: (data: Uint8Array) => void;
  readonly #bound: number;
  #rows: number;
  #cols: number;
  #scrollback: number;
  /** Bytes dropped so far. */
  skippedBytes = 0;

  // --- xterm's UTF-8 decoder state (Utf8ToUtf32.interim)
  readonly #interim = new Uint8Array(3);

  // --- parser and mode state
  #state: number = S.GROUND;
  #collect = 0;
  #params: number[] = [0];
  #paramsWeird = false;
  #alt = false;
  #regionNormal = false;
  #regionAlt = false;
  #reverseWrap = false;
  /** DECAWM, LNM: wrapped lines are counted only with autowrap on and LNM off. */
  #autowrap = true;
  #lnm = false;
  /** The cursor's column inside a run, from its last CR (-1: not known, e.g. after a tab, BS or non-ASCII). */
  #col = -1;
  /** Whether the pen is SGR 0's, and its version (sgr-pen.ts). */
  readonly #pen = new SgrPen();
  /** The pen's version at `#heldStart` (what the mirror's pen will be once everything before it is parsed). */
  #heldPen = 0;
  /** A cut dropped pen changes: `CSI 0 m` goes before the next post. */
  #resetPending = false;

  // --- the held run
  #inRun = false;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** Absolute stream offset of the first held byte (or of `#seg` when nothing is held). */
  #heldStart = 0;
  /** Cut candidates: absolute offsets of the first CR after each LF, the run's line advances and the pen's version there. */
  #cand: number[] = [];
  #candAdv: number[] = [];
  #candPen: number[] = [];
  #candHead = 0;
  #adv = 0;
  #needCand = true;

  // --- the chunk being written
  #abs = 0;
  #data: Uint8Array = new Uint8Array(0);
  #base = 0;
  #seg = 0;

  constructor(cols: number, rows: number, scrollback: number, boundBytes: number, post: (data: Uint8Array) => void) {
    this.#cols = Math.max(2, cols);
    this.#rows = rows;
    this.#scrollback = scrollback;
    this.#bound = Math.max(1, boundBytes);
    this.#needAdv = 2 * rows + scrollback + 1;
    this.#post = post;
  }

  /** Held bytes (not yet posted). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Entries in the cut-candidate arrays. Bounded: candidates with enough line feeds after them are
   * consumed at the next line feed, one is kept per CANDIDATE_EVERY_LF lines, and the consumed
   * prefix is sliced off once it passes 1,024 entries and half the array, so at most
   * 2 · max(1,024, (2·rows + scrollback) / CANDIDATE_EVERY_LF + 2) (rows and scrollback are options).
   */
  get candidateEntries(): number {
    return this.#cand.length;
  }

  /** Line advances counted in the current run: LFs, and wraps where the column is known (for tests). */
  get runAdvances(): number {
    return this.#adv;
  }

  /** Line advances after a cut needed to make everything before it invisible (2·rows + scrollback + 1). */
  #needAdv: number;

  /** The terminal is resized: held output is posted first (it is parsed at the old size). */
  resize(cols: number, rows: number): void {
    this.flush();
    this.#cols = Math.max(2, cols);
    this.#rows = rows;
    this.#needAdv = 2 * rows + this.#scrollback + 1;
  }

  /** Posts everything held; the run ends (a new one starts at the next eligible byte). */
  flush(): void {
    if (this.#inRun) this.#endRun();
  }

  write(data: Uint8Array, hold: boolean): void {
    if (!hold) this.flush();
    this.#data = data;
    this.#base = this.#abs;
    this.#seg = 0;
    this.#abs += data.length;
    if (!this.#inRun) this.#heldStart = this.#base;
    this.#decode(data, hold);
    if (this.#inRun) {
      if (this.#seg < data.length) {
        this.#held.push(this.#seg === 0 ? data : data.subarray(this.#seg));
        this.#heldBytes += data.length - this.#seg;
      }
      this.#seg = data.length;
      // An original chunk boundary is a safe split.
      this.#enforceBound(data.length);
    } else if (this.#seg < data.length) {
      this.#emit(data.subarray(this.#seg));
    }
    this.#data = new Uint8Array(0);
  }

  // --- decoding: a port of xterm's Utf8ToUtf32.decode, calling #cp for each code point ---------

  #decode(input: Uint8Array, hold: boolean): void {
    const length = input.length;
    if (!length) return;
    let startPos = 0;
    const interim = this.#interim;
    if (interim[0]) {
      let discardInterim = false;
      let cp = interim[0];
      cp &= (cp & 0xe0) === 0xc0 ? 0x1f : (cp & 0xf0) === 0xe0 ? 0x0f : 0x07;
      let pos = 0;
      let tmp: number;
      while ((tmp = interim[++pos]! & 0x3f) && pos < 4) {
        cp <<= 6;
        cp |= tmp;
      }
      const type = (interim[0] & 0xe0) === 0xc0 ? 2 : (interim[0] & 0xf0) === 0xe0 ? 3 : 4;
      const missing = type - pos;
      while (startPos < missing) {
        if (startPos >= length) return;
        tmp = input[startPos++]!;
        if ((tmp & 0xc0) !== 0x80) {
          startPos--;
          discardInterim = true;
          break;
        } else {
          interim[pos++] = tmp;
          cp <<= 6;
          cp |= tmp & 0x3f;
        }
      }
      if (!discardInterim) {
        if (type === 2) {
          if (cp < 0x80) startPos--;
          else this.#cp(cp, startPos - 1, hold);
        } else if (type === 3) {
          if (!(cp < 0x0800 || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff)) this.#cp(cp, startPos - 1, hold);
        } else if (!(cp < 0x010000 || cp > 0x10ffff)) this.#cp(cp, startPos - 1, hold);
      }
      interim.fill(0);
    }
    let i = startPos;
    let byte1: number, byte2: number, byte3: number, byte4: number, codepoint: number;
    while (i < length) {
      byte1 = input[i]!;
      if (byte1 < 0x80) {
        // Printable ASCII changes nothing the scanner tracks except inside a CSI/ESC/DCS sequence.
        const st = this.#state;
        if (byte1 >= 0x20 && byte1 < 0x7f && (st === S.GROUND ? this.#inRun || !hold : st === S.OSC_STRING || st === S.SOS_PM_APC_STRING || st === S.DCS_PASSTHROUGH)) {
          const from = i++;
          while (i < length && (byte1 = input[i]!) >= 0x20 && byte1 < 0x7f) i++;
          if (this.#col >= 0 && st === S.GROUND) this.#print(i - from);
          continue;
        }
        if (this.#inRun && st === S.GROUND) {
          if (byte1 === 0x0a || byte1 === 0x0d) {
            this.#runLineBreak(byte1, i++);
            continue;
          }
          if (byte1 === 0x1b) {
            const end = this.#runCsi(input, i);
            if (end > 0) {
              i = end;
              continue;
            }
          }
        }
        this.#cp(byte1, i, hold);
        i++;
        continue;
      }
      i++;
      if ((byte1 & 0xe0) === 0xc0) {
        if (i >= length) {
          interim[0] = byte1;
          return;
        }
        byte2 = input[i++]!;
        if ((byte2 & 0xc0) !== 0x80) {
          i--;
          continue;
        }
        codepoint = ((byte1 & 0x1f) << 6) | (byte2 & 0x3f);
        if (codepoint < 0x80) {
          i--;
          continue;
        }
        this.#cp(codepoint, i - 1, hold);
      } else if ((byte1 & 0xf0) === 0xe0) {
        if (i >= length) {
          interim[0] = byte1;
          return;
        }
        byte2 = input[i++]!;
        if ((byte2 & 0xc0) !== 0x80) {
          i--;
          continue;
        }
        if (i >= length) {
          interim[0] = byte1;
          interim[1] = byte2;
          return;
        }
        byte3 = input[i++]!;
        if ((byte3 & 0xc0) !== 0x80) {
          i--;
          continue;
        }
        codepoint = ((byte1 & 0x0f) << 12) | ((byte2 & 0x3f) << 6) | (byte3 & 0x3f);
        if (codepoint < 0x0800 || (codepoint >= 0xd800 && codepoint <= 0xdfff) || codepoint === 0xfeff) continue;
        this.#cp(codepoint, i - 1, hold);
      } else if ((byte1 & 0xf8) === 0xf0) {
        if (i >= length) {
          interim[0] = byte1;
          return;
        }
        byte2 = input[i++]!;
        if ((byte2 & 0xc0) !== 0x80) {
          i--;
          continue;
        }
        if (i >= length) {
          interim[0] = byte1;
          interim[1] = byte2;
          return;
        }
        byte3 = input[i++]!;
        if ((byte3 & 0xc0) !== 0x80) {
          i--;
          continue;
        }
        if (i >= length) {
          interim[0] = byte1;
          interim[1] = byte2;
          interim[2] = byte3;
          return;
        }
        byte4 = input[i++]!;
        if ((byte4 & 0xc0) !== 0x80) {
          i--;
          continue;
        }
        codepoint = ((byte1 & 0x07) << 18) | ((byte2 & 0x3f) << 12) | ((byte3 & 0x3f) << 6) | (byte4 & 0x3f);
        if (codepoint < 0x010000 || codepoint > 0x10ffff) continue;
        this.#cp(codepoint, i - 1, hold);
      }
      // else: an illegal byte, skipped
    }
  }

  /**
   * LF or CR inside a run (the hot path of a plain flood: two per line), called straight from the
   * decoder's ASCII loop; the checks that almost never fire are inlined so a line costs a few compares.
   */
  #runLineBreak(cp: number, i: number): void {
    if (cp === 0x0a) {
      this.#adv++;
      // As xterm's lineFeed: a LF at the right margin steps back from it (no wrap is pending after it).
      if (this.#col >= this.#cols) this.#col = this.#cols - 1;
      this.#needCand = true;
      if (this.#candHead < this.#cand.length && this.#adv - this.#candAdv[this.#candHead]! >= this.#needAdv) this.#cut();
      // Right after an ASCII byte: a safe split.
      if (this.#heldBytes + (i + 1 - this.#seg) > this.#bound) this.#enforceBound(i + 1);
    } else {
      this.#col = this.#autowrap && !this.#lnm ? 0 : -1;
      if (!this.#needCand) return;
      // Every CANDIDATE_EVERY_LF-th line is enough: a cut a few lines early skips a little less,
      // and a candidate per line would be garbage at the line rate (young-generation RSS).
      // Only where the pen is provably the same after a cut (otherwise the next line's CR is tried).
      if (this.#pen.version !== this.#heldPen && !this.#pen.clean) return;
      const n = this.#cand.length;
      if (n === this.#candHead || this.#adv - this.#candAdv[n - 1]! >= CANDIDATE_EVERY_LF) {
        this.#cand.push(this.#base + i);
        this.#candAdv.push(this.#adv);
        this.#candPen.push(this.#pen.version);
      }
      this.#needCand = false;
    }
  }

  /**
   * A whole SGR or EL (`ESC [ Pm m|K`) inside a run and inside this chunk, read in one go: the hot
   * path of coloured floods. The same pen and parser state (GROUND) as stepping through it byte by
   * byte; returns the index after it, or -1 (anything else, or split across chunks) to step.
   */
  #runCsi(input: Uint8Array, i: number): number {
    const n = input.length;
    if (i + 2 >= n || input[i + 1] !== 0x5b) return -1;
    const p: number[] = [0];
    let weird = false;
    for (let j = i + 2; j < n; j++) {
      const c = input[j]!;
      if (c >= 0x30 && c <= 0x3b) {
        if (addParamByte(p, c)) weird = true;
      } else if (c === 0x6d || c === 0x4b) {
        if (c === 0x6d) this.#pen.sgr(p, weird);
        return j + 1;
      } else return -1;
    }
    return -1;
  }

  /** One decoded code point; `i` is the index in the chunk of its last byte. */
  #cp(cp: number, i: number, hold: boolean): void {
    if (this.#inRun) {
      const st = this.#state;
      if (st === S.GROUND && isPlain(cp)) {
        if (cp === 0x0a || cp === 0x0d) this.#runLineBreak(cp, i);
        // BS, HT, wide and combining characters: where the cursor is is not tracked until the next CR.
        else if (cp !== 0x07) this.#col = -1;
        return;
      }
      // SGR and EL keep the run going: ESC, '[', parameters, then 'm' or 'K'. Anything else ends it.
      const goesOn =
        st === S.GROUND ? cp === 0x1b : st === S.ESCAPE ? cp === 0x5b : (st === S.CSI_ENTRY || st === S.CSI_PARAM) && ((cp >= 0x30 && cp <= 0x3b) || cp === 0x6d || cp === 0x4b);
      if (!goesOn) this.#endRun();
      this.#step(cp);
      return;
    } else if (hold && cp < 0x80 && this.#state === S.GROUND && isPlain(cp) && this.#safe()) {
      // A run starts right before this ASCII byte.
      if (i > this.#seg) this.#emit(this.#data.subarray(this.#seg, i));
      this.#seg = i;
      this.#heldStart = this.#base + i;
      this.#heldPen = this.#pen.version;
      this.#col = -1;
      this.#inRun = true;
      this.#adv = 0;
      this.#needCand = true;
      this.#cand.length = 0;
      this.#candAdv.length = 0;
      this.#candPen.length = 0;
      this.#candHead = 0;
      this.#cp(cp, i, hold);
      return;
    }
    this.#step(cp);
  }

  #safe(): boolean {
    return !(this.#alt ? this.#regionAlt : this.#regionNormal) && !this.#reverseWrap;
  }

  /** Every post goes through here: a pen reset owed by a cut goes first. */
  #emit(d: Uint8Array): void {
    if (this.#resetPending) {
      this.#resetPending = false;
      this.#post(SGR_RESET);
    }
    this.#post(d);
  }

  /** Posts the held bytes and the current chunk up to `#seg`... and ends the run. */
  #endRun(): void {
    for (const h of this.#held) this.#emit(h);
    this.#held = [];
    this.#heldBytes = 0;
    this.#inRun = false;
    this.#cand.length = 0;
    this.#candAdv.length = 0;
    this.#candPen.length = 0;
    this.#candHead = 0;
  }

  /** Drops everything before the latest candidate with enough line feeds after it. */
  #cut(): void {
    const need = this.#needAdv;
    let best = -1;
    while (this.#candHead < this.#cand.length && this.#adv - this.#candAdv[this.#candHead]! >= need) best = this.#candHead++;
    if (best < 0) return;
    const to = this.#cand[best]!;
    const pen = this.#candPen[best]!;
    this.#compactCandidates();
    this.skippedBytes += to - this.#heldStart;
    this.#discardTo(to);
    // The dropped part changed the pen, and it was reset before the cut: reset the mirror's too,
    // right before whatever is posted next (one message, not one per cut).
    if (pen !== this.#heldPen) this.#resetPending = true;
    this.#heldPen = pen;
  }

  /** Removes held bytes (and bytes of the current chunk) before absolute offset `to`. */
  #discardTo(to: number): void {
    let n = to - this.#heldStart;
    while (n > 0 && this.#held.length) {
      const h = this.#held[0]!;
      if (h.length <= n) {
        this.#held.shift();
        this.#heldBytes -= h.length;
        n -= h.length;
      } else {
        this.#held[0] = h.subarray(n);
        this.#heldBytes -= n;
        n = 0;
      }
    }
    if (n > 0) this.#seg += n;
    this.#heldStart = to;
  }

  /** Posts held bytes (and of the current chunk) before absolute offset `to` (a safe split). */
  #postTo(to: number): void {
    let n = to - this.#heldStart;
    while (n > 0 && this.#held.length) {
      const h = this.#held[0]!;
      if (h.length <= n) {
        this.#held.shift();
        this.#heldBytes -= h.length;
        this.#emit(h);
        n -= h.length;
      } else {
        this.#emit(h.subarray(0, n));
        this.#held[0] = h.subarray(n);
        this.#heldBytes -= n;
        n = 0;
      }
    }
    if (n > 0) {
      this.#emit(this.#data.subarray(this.#seg, this.#seg + n));
      this.#seg += n;
    }
    this.#heldStart = to;
  }

  /** Slices off consumed candidates once they are over 1,024 and half the arrays (amortised O(1) per candidate). */
  #compactCandidates(): void {
    if (this.#candHead > 1024 && this.#candHead * 2 > this.#cand.length) {
      this.#cand = this.#cand.slice(this.#candHead);
      this.#candAdv = this.#candAdv.slice(this.#candHead);
      this.#candPen = this.#candPen.slice(this.#candHead);
      this.#candHead = 0;
    }
  }

  /** Keeps the held window within the bound: posts its oldest part, at cut candidates or at `splitAt` (index in the chunk, a safe split). */
  #enforceBound(splitAt: number): void {
    const pendingEnd = this.#base + splitAt;
    while (this.#heldBytes + (splitAt - this.#seg) > this.#bound) {
      if (this.#candHead < this.#cand.length && this.#cand[this.#candHead]! > this.#heldStart) {
        this.#heldPen = this.#candPen[this.#candHead]!;
        this.#postTo(this.#cand[this.#candHead++]!);
      } else {
        this.#postTo(pendingEnd);
        this.#heldPen = this.#pen.version;
        this.#candHead = this.#cand.length;
        break;
      }
    }
    // Without this a run that never cuts (scrollback larger than the held window) would keep every
    // consumed candidate for as long as the flood lasts.
    this.#compactCandidates();
  }

  // --- the parser (state only, plus the few modes that matter) -----------------------------------

  #step(cp: number): void {
    const tr = TABLE[(this.#state << 8) | (cp < 0xa0 ? cp : NON_ASCII_PRINTABLE)]!;
    const action = tr >> 4;
    let next = tr & 0x0f;
    switch (action) {
      case A.CLEAR:
        this.#collect = 0;
        this.#params = [0];
        this.#paramsWeird = false;
        break;
      case A.COLLECT:
        this.#collect = ((this.#collect << 8) | cp) >>> 0;
        break;
      case A.PARAM:
        if (addParamByte(this.#params, cp)) this.#paramsWeird = true;
        break;
      case A.CSI_DISPATCH:
        this.#csi(cp);
        break;
      case A.ESC_DISPATCH:
        // DECRC and RIS set the pen.
        if ((cp === 0x38 || cp === 0x63) && this.#collect === 0) this.#pen.touched();
        if (cp === 0x63 && this.#collect === 0) {
          // RIS: everything back to defaults (LNM is an option in xterm.js: it stays).
          this.#alt = false;
          this.#regionNormal = this.#regionAlt = false;
          this.#reverseWrap = false;
          this.#autowrap = true;
        }
        break;
      case A.STRING_END:
        this.#collect = 0;
        this.#params = [0];
        if (cp === 0x1b) next = S.ESCAPE;
        break;
    }
    this.#state = next;
  }

  #csi(final: number): void {
    const collect = this.#collect;
    const p = this.#params;
    if (collect === 0 && final === 0x6d /* m */) return this.#pen.sgr(p, this.#paramsWeird);
    // Sequences that set the pen otherwise: SCORC, DECSTR, DECSCA, and private mode resets (1048, 1049 restore the cursor).
    if ((collect === 0 && final === 0x75) || (collect === 0x21 && final === 0x70) || (collect === 0x22 && final === 0x71) || (collect === 0x3f && final === 0x6c)) this.#pen.touched();
    if (final === 0x72 /* r */) {
      if (collect === 0) {
        // DECSTBM, as xterm's setScrollRegion.
        if (this.#paramsWeird) return this.#setRegion(true);
        const rows = this.#rows;
        const top = p[0] || 1;
        let bottom: number;
        if (p.length < 2 || (bottom = p[1]!) > rows || bottom === 0) bottom = rows;
        if (bottom > top) this.#setRegion(!(top === 1 && bottom === rows));
      } else if (collect === 0x3f) {
        // Restore of saved private modes (whatever xterm does with it): assume the worst.
        this.#reverseWrap = true;
        this.#autowrap = false;
      }
      return;
    }
    if (final === 0x70 /* p */ && collect === 0x21 /* ! */) {
      // DECSTR: margins and modes reset.
      this.#setRegion(false);
      this.#reverseWrap = false;
      this.#autowrap = true;
      return;
    }
    if ((final === 0x68 || final === 0x6c) && collect === 0x3f) {
      const set = final === 0x68;
      if (this.#paramsWeird) {
        this.#reverseWrap = true;
        this.#autowrap = false;
        return;
      }
      for (const n of p) {
        if (n === 45) this.#reverseWrap = set;
        else if (n === 7) this.#autowrap = set;
        else if (n === 1049 || n === 1047 || n === 47) {
          if (set && !this.#alt) {
            this.#alt = true;
            this.#regionAlt = false; // the alt buffer was cleared when it was last left
          } else if (!set && this.#alt) {
            this.#alt = false;
            this.#regionAlt = false;
          }
        }
      }
      return;
    }
    if ((final === 0x68 || final === 0x6c) && collect === 0) {
      // LNM (a LF is also a CR): while it is set (or unknown) the scanner does not count wrapped lines.
      if (this.#paramsWeird) this.#lnm = true;
      else for (const n of p) if (n === 20) this.#lnm = final === 0x68;
    }
  }

  /**
   * `k` printable ASCII characters from the known column `#col`: each one at the right margin wraps
   * first (DECAWM, as xterm's print), and a wrap advances a line like a LF, so it counts too.
   */
  #print(k: number): void {
    const cols = this.#cols;
    const x = this.#col + k;
    if (x <= cols) this.#col = x;
    else {
      const wraps = Math.floor((x - 1) / cols);
      this.#adv += wraps;
      this.#col = x - wraps * cols;
    }
  }

  #setRegion(restricted: boolean): void {
    if (this.#alt) this.#regionAlt = restricted;
    else this.#regionNormal = restricted;
  }
}

/**
 * xterm's VT500 parser, reduced to what the mirror fast-forward needs (fast-forward.ts): its states,
 * the few actions that matter, and its transition table, ported from EscapeSequenceParser so the
 * scanner knows the parser state exactly. Hand-written because xterm does not export the table.
 */

/** Parser states (as xterm's EscapeSequenceParser). */
export const S = {
  GROUND: 0,
  ESCAPE: 1,
  ESCAPE_INTERMEDIATE: 2,
  CSI_ENTRY: 3,
  CSI_PARAM: 4,
  CSI_INTERMEDIATE: 5,
  CSI_IGNORE: 6,
  SOS_PM_APC_STRING: 7,
  OSC_STRING: 8,
  DCS_ENTRY: 9,
  DCS_PARAM: 10,
  DCS_IGNORE: 11,
  DCS_INTERMEDIATE: 12,
  DCS_PASSTHROUGH: 13,
} as const;

/** Actions the scanner cares about (everything else is "other"). */
export const A = {
  OTHER: 0,
  CLEAR: 1,
  COLLECT: 2,
  PARAM: 3,
  CSI_DISPATCH: 4,
  ESC_DISPATCH: 5,
  /** OSC_END / DCS_UNHOOK: an ESC terminating the string goes on to ESCAPE. */
  STRING_END: 6,
} as const;

export const NON_ASCII_PRINTABLE = 0xa0;

/** xterm's VT500_TRANSITION_TABLE (state and the actions above), indexed [state << 8 | code]. */
export const TABLE: Uint8Array = (() => {
  const t = new Uint8Array(14 * 256);
  const r = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const add = (codes: number[], state: number, action: number, next: number) => {
    for (const c of codes) t[(state << 8) | c] = (action << 4) | next;
  };
  const O = A.OTHER;
  const PRINTABLES = r(0x20, 0x7f);
  const EXECUTABLES = [...r(0x00, 0x18), 0x19, ...r(0x1c, 0x20)];
  // Default: ERROR -> GROUND.
  for (let s = 0; s < 14; s++) add(r(0, 256), s, O, S.GROUND);
  add(PRINTABLES, S.GROUND, O, S.GROUND);
  for (let s = 0; s < 14; s++) {
    add([0x18, 0x1a, 0x99, 0x9a], s, O, S.GROUND);
    add(r(0x80, 0x90), s, O, S.GROUND);
    add(r(0x90, 0x98), s, O, S.GROUND);
    add([0x9c], s, O, S.GROUND);
    add([0x1b], s, A.CLEAR, S.ESCAPE);
    add([0x9d], s, O, S.OSC_STRING);
    add([0x98, 0x9e, 0x9f], s, O, S.SOS_PM_APC_STRING);
    add([0x9b], s, A.CLEAR, S.CSI_ENTRY);
    add([0x90], s, A.CLEAR, S.DCS_ENTRY);
  }
  add(EXECUTABLES, S.GROUND, O, S.GROUND);
  add(EXECUTABLES, S.ESCAPE, O, S.ESCAPE);
  add([0x7f], S.ESCAPE, O, S.ESCAPE);
  add(EXECUTABLES, S.OSC_STRING, O, S.OSC_STRING);
  add(EXECUTABLES, S.CSI_ENTRY, O, S.CSI_ENTRY);
  add([0x7f], S.CSI_ENTRY, O, S.CSI_ENTRY);
  add(EXECUTABLES, S.CSI_PARAM, O, S.CSI_PARAM);
  add([0x7f], S.CSI_PARAM, O, S.CSI_PARAM);
  add(EXECUTABLES, S.CSI_IGNORE, O, S.CSI_IGNORE);
  add(EXECUTABLES, S.CSI_INTERMEDIATE, O, S.CSI_INTERMEDIATE);
  add([0x7f], S.CSI_INTERMEDIATE, O, S.CSI_INTERMEDIATE);
  add(EXECUTABLES, S.ESCAPE_INTERMEDIATE, O, S.ESCAPE_INTERMEDIATE);
  add([0x7f], S.ESCAPE_INTERMEDIATE, O, S.ESCAPE_INTERMEDIATE);
  add([0x5d], S.ESCAPE, O, S.OSC_STRING);
  add(PRINTABLES, S.OSC_STRING, O, S.OSC_STRING);
  add([0x7f], S.OSC_STRING, O, S.OSC_STRING);
  add([0x9c, 0x1b, 0x18, 0x1a, 0x07], S.OSC_STRING, A.STRING_END, S.GROUND);
  add(r(0x1c, 0x20), S.OSC_STRING, O, S.OSC_STRING);
  add([0x58, 0x5e, 0x5f], S.ESCAPE, O, S.SOS_PM_APC_STRING);
  add(PRINTABLES, S.SOS_PM_APC_STRING, O, S.SOS_PM_APC_STRING);
  add(EXECUTABLES, S.SOS_PM_APC_STRING, O, S.SOS_PM_APC_STRING);
  add([0x9c], S.SOS_PM_APC_STRING, O, S.GROUND);
  add([0x7f], S.SOS_PM_APC_STRING, O, S.SOS_PM_APC_STRING);
  add([0x5b], S.ESCAPE, A.CLEAR, S.CSI_ENTRY);
  add(r(0x40, 0x7f), S.CSI_ENTRY, A.CSI_DISPATCH, S.GROUND);
  add(r(0x30, 0x3c), S.CSI_ENTRY, A.PARAM, S.CSI_PARAM);
  add([0x3c, 0x3d, 0x3e, 0x3f], S.CSI_ENTRY, A.COLLECT, S.CSI_PARAM);
  add(r(0x30, 0x3c), S.CSI_PARAM, A.PARAM, S.CSI_PARAM);
  add(r(0x40, 0x7f), S.CSI_PARAM, A.CSI_DISPATCH, S.GROUND);
  add([0x3c, 0x3d, 0x3e, 0x3f], S.CSI_PARAM, O, S.CSI_IGNORE);
  add(r(0x20, 0x40), S.CSI_IGNORE, O, S.CSI_IGNORE);
  add([0x7f], S.CSI_IGNORE, O, S.CSI_IGNORE);
  add(r(0x40, 0x7f), S.CSI_IGNORE, O, S.GROUND);
  add(r(0x20, 0x30), S.CSI_ENTRY, A.COLLECT, S.CSI_INTERMEDIATE);
  add(r(0x20, 0x30), S.CSI_INTERMEDIATE, A.COLLECT, S.CSI_INTERMEDIATE);
  add(r(0x30, 0x40), S.CSI_INTERMEDIATE, O, S.CSI_IGNORE);
  add(r(0x40, 0x7f), S.CSI_INTERMEDIATE, A.CSI_DISPATCH, S.GROUND);
  add(r(0x20, 0x30), S.CSI_PARAM, A.COLLECT, S.CSI_INTERMEDIATE);
  add(r(0x20, 0x30), S.ESCAPE, A.COLLECT, S.ESCAPE_INTERMEDIATE);
  add(r(0x20, 0x30), S.ESCAPE_INTERMEDIATE, A.COLLECT, S.ESCAPE_INTERMEDIATE);
  add(r(0x30, 0x7f), S.ESCAPE_INTERMEDIATE, A.ESC_DISPATCH, S.GROUND);
  add(r(0x30, 0x50), S.ESCAPE, A.ESC_DISPATCH, S.GROUND);
  add(r(0x51, 0x58), S.ESCAPE, A.ESC_DISPATCH, S.GROUND);
  add([0x59, 0x5a, 0x5c], S.ESCAPE, A.ESC_DISPATCH, S.GROUND);
  add(r(0x60, 0x7f), S.ESCAPE, A.ESC_DISPATCH, S.GROUND);
  add([0x50], S.ESCAPE, A.CLEAR, S.DCS_ENTRY);
  add(EXECUTABLES, S.DCS_ENTRY, O, S.DCS_ENTRY);
  add([0x7f], S.DCS_ENTRY, O, S.DCS_ENTRY);
  add(r(0x1c, 0x20), S.DCS_ENTRY, O, S.DCS_ENTRY);
  add(r(0x20, 0x30), S.DCS_ENTRY, O, S.DCS_INTERMEDIATE);
  add(r(0x30, 0x3c), S.DCS_ENTRY, O, S.DCS_PARAM);
  add([0x3c, 0x3d, 0x3e, 0x3f], S.DCS_ENTRY, O, S.DCS_PARAM);
  add(EXECUTABLES, S.DCS_IGNORE, O, S.DCS_IGNORE);
  add(r(0x20, 0x80), S.DCS_IGNORE, O, S.DCS_IGNORE);
  add(r(0x1c, 0x20), S.DCS_IGNORE, O, S.DCS_IGNORE);
  add(EXECUTABLES, S.DCS_PARAM, O, S.DCS_PARAM);
  add([0x7f], S.DCS_PARAM, O, S.DCS_PARAM);
  add(r(0x1c, 0x20), S.DCS_PARAM, O, S.DCS_PARAM);
  add(r(0x30, 0x3c), S.DCS_PARAM, O, S.DCS_PARAM);
  add([0x3c, 0x3d, 0x3e, 0x3f], S.DCS_PARAM, O, S.DCS_IGNORE);
  add(r(0x20, 0x30), S.DCS_PARAM, O, S.DCS_INTERMEDIATE);
  add(EXECUTABLES, S.DCS_INTERMEDIATE, O, S.DCS_INTERMEDIATE);
  add([0x7f], S.DCS_INTERMEDIATE, O, S.DCS_INTERMEDIATE);
  add(r(0x1c, 0x20), S.DCS_INTERMEDIATE, O, S.DCS_INTERMEDIATE);
  add(r(0x20, 0x30), S.DCS_INTERMEDIATE, O, S.DCS_INTERMEDIATE);
  add(r(0x30, 0x40), S.DCS_INTERMEDIATE, O, S.DCS_IGNORE);
  add(r(0x40, 0x7f), S.DCS_INTERMEDIATE, O, S.DCS_PASSTHROUGH);
  add(r(0x40, 0x7f), S.DCS_PARAM, O, S.DCS_PASSTHROUGH);
  add(r(0x40, 0x7f), S.DCS_ENTRY, O, S.DCS_PASSTHROUGH);
  add(EXECUTABLES, S.DCS_PASSTHROUGH, O, S.DCS_PASSTHROUGH);
  add(PRINTABLES, S.DCS_PASSTHROUGH, O, S.DCS_PASSTHROUGH);
  add([0x7f], S.DCS_PASSTHROUGH, O, S.DCS_PASSTHROUGH);
  add([0x1b, 0x9c, 0x18, 0x1a], S.DCS_PASSTHROUGH, A.STRING_END, S.GROUND);
  add([NON_ASCII_PRINTABLE], S.GROUND, O, S.GROUND);
  add([NON_ASCII_PRINTABLE], S.OSC_STRING, O, S.OSC_STRING);
  add([NON_ASCII_PRINTABLE], S.CSI_IGNORE, O, S.CSI_IGNORE);
  add([NON_ASCII_PRINTABLE], S.DCS_IGNORE, O, S.DCS_IGNORE);
  add([NON_ASCII_PRINTABLE], S.DCS_PASSTHROUGH, O, S.DCS_PASSTHROUGH);
  return t;
})();

/** Code points that may be skipped in GROUND: printable, or BEL BS HT LF VT FF CR. */
export function isPlain(cp: number): boolean {
  return (cp >= 0x20 && cp < 0x7f) || cp >= NON_ASCII_PRINTABLE || (cp >= 0x07 && cp <= 0x0d);
}

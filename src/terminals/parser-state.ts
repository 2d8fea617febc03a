/**
 * The escape sequence a terminal's parser is in the middle of, as the bytes that would put a
 * fresh parser in the same place: a snapshot (snapshot.ts) taken at a PTY read boundary ends with
 * them, so the output after it finishes the sequence in the viewer as in the mirror. Reads xterm's
 * EscapeSequenceParser internals (state, collected prefix and intermediates, parameters, and the
 * OSC/DCS payload its handlers kept), guarded by snapshot.test.ts.
 */
import { S } from './vt500-table.ts';

function need(obj: any, path: string): any {
  let v = obj;
  for (const k of path.split('.')) {
    v = v?.[k];
    if (v === undefined) throw new Error(`xterm internals changed: ${path} is missing (update src/terminals/parser-state.ts)`);
  }
  return v;
}

/** xterm's parser states (common/parser/Constants.ts ParserState): one table, shared with the fast-forward scanner. */
const PS = S;

/**
 * The bytes that put a parser in GROUND into the state `parser` (xterm's EscapeSequenceParser) is
 * in: its collected prefix, parameters and intermediates, and an OSC's or a DCS's payload so far.
 * Parameters come back as numbers (a half-typed `0` reads the same as an empty one).
 */
export function openSequence(parser: any): string {
  const state = need(parser, 'currentState') as number;
  if (state === PS.GROUND) return '';
  const collect = need(parser, '_collect') as number;
  let prefix = '';
  let inter = '';
  for (let c = collect, shift = 24; shift >= 0; shift -= 8) {
    const ch = (c >>> shift) & 0xff;
    if (!ch) continue;
    if (ch >= 0x3c && ch <= 0x3f) prefix += String.fromCharCode(ch);
    else inter += String.fromCharCode(ch);
  }
  const params = (): string => {
    const arr = need(parser, '_params').toArray() as (number | number[])[];
    let out = '';
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]!;
      if (Array.isArray(v)) out += v.map((sub) => ':' + (sub < 0 ? '' : sub)).join('');
      else out += (i ? ';' : '') + v;
    }
    return out;
  };
  switch (state) {
    case PS.ESCAPE:
      return '\x1b';
    case PS.ESCAPE_INTERMEDIATE:
      return '\x1b' + inter;
    case PS.CSI_ENTRY:
      return '\x1b[' + prefix;
    case PS.CSI_PARAM:
      return '\x1b[' + prefix + params();
    case PS.CSI_INTERMEDIATE:
      return '\x1b[' + prefix + params() + inter;
    case PS.CSI_IGNORE:
      return '\x1b[0<';
    case PS.SOS_PM_APC_STRING:
      return '\x1b_';
    case PS.OSC_STRING: {
      const osc = need(parser, '_oscParser');
      const id = osc._id as number;
      // OscState: 1 collecting the id, 2 the payload, 3 aborted (a non-digit id).
      if (osc._state === 3) return '\x1b]x';
      if (osc._state !== 2) return '\x1b]' + (id < 0 ? '' : id);
      const handlers = osc._active as { _data?: unknown }[];
      const data = handlers.length && typeof handlers[handlers.length - 1]!._data === 'string' ? (handlers[handlers.length - 1]!._data as string) : '';
      return `\x1b]${id};${data}`;
    }
    case PS.DCS_ENTRY:
      return '\x1bP' + prefix;
    case PS.DCS_PARAM:
      return '\x1bP' + prefix + params();
    case PS.DCS_INTERMEDIATE:
      return '\x1bP' + prefix + params() + inter;
    case PS.DCS_IGNORE:
      return '\x1bP0<';
    case PS.DCS_PASSTHROUGH: {
      const dcs = need(parser, '_dcsParser');
      const final = String.fromCharCode((dcs._ident as number) & 0xff);
      const handlers = dcs._active as { _data?: unknown }[];
      const data = handlers.length && typeof handlers[handlers.length - 1]!._data === 'string' ? (handlers[handlers.length - 1]!._data as string) : '';
      return '\x1bP' + prefix + params() + inter + final + data;
    }
  }
  return '';
}

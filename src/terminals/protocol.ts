/**
 * The terminal WebSocket codec (docs/protocol.md): every frame is one ASCII opcode byte followed by
 * its payload. Pure functions, no I/O, so every malformed input can be tested without a socket.
 */

/** Client → server opcodes. */
export const ClientOp = { input: 0x69 /* i */, resize: 0x72 /* r */, ack: 0x61 /* a */ } as const;
/** Server → client opcodes. */
export const ServerOp = { output: 0x6f /* o */, snapshot: 0x73 /* s */, exit: 0x78 /* x */, meta: 0x6d /* m */, notice: 0x65 /* e */ } as const;

export type ClientMessage =
  | { type: 'input'; data: Buffer }
  /** This viewer's preferred size; `claim`: take the size for this viewer ("Fit to this device"). */
  | { type: 'resize'; cols: number; rows: number; claim?: true }
  | { type: 'ack'; bytes: number };

/** Why a client frame was not understood: the `e` notice code the client gets back. */
export type NoticeCode = 'read_only' | 'unknown_opcode' | 'empty_frame' | 'invalid_resize' | 'invalid_ack' | 'exited' | 'input_busy';

export type DecodeResult = { ok: true; message: ClientMessage } | { ok: false; code: NoticeCode; message: string };

export interface SizeRange {
  minCols: number;
  maxCols: number;
  minRows: number;
  maxRows: number;
}

/** Ack counts are at most 10 digits: more than any watermark, and never a float or an exponent. */
const ACK_RE = /^[0-9]{1,10}$/;
/** A resize payload is two small integers; anything longer is not a resize. */
const MAX_RESIZE_JSON_BYTES = 256;

function fail(code: NoticeCode, message: string): DecodeResult {
  return { ok: false, code, message };
}

/** Decodes one client frame. Never throws; the failure carries the notice to send back. */
export function decodeClientFrame(frame: Buffer, range: SizeRange): DecodeResult {
  if (frame.length === 0) return fail('empty_frame', 'Empty frame: every frame starts with an opcode byte (i, r or a).');
  const op = frame[0]!;
  const payload = frame.subarray(1);
  switch (op) {
    case ClientOp.input:
      return { ok: true, message: { type: 'input', data: payload } };
    case ClientOp.resize:
      return decodeResize(payload, range);
    case ClientOp.ack: {
      const text = payload.toString('latin1');
      if (!ACK_RE.test(text)) return fail('invalid_ack', 'An acknowledgement is "a" followed by a decimal byte count (at most 10 digits).');
      // "a0" is a harmless no-op (an empty snapshot acknowledged as rendered), not an error.
      const bytes = Number(text);
      return { ok: true, message: { type: 'ack', bytes } };
    }
    default:
      return fail('unknown_opcode', `Unknown opcode 0x${op.toString(16).padStart(2, '0')}: client frames start with i (input), r (resize) or a (ack).`);
  }
}

function decodeResize(payload: Buffer, range: SizeRange): DecodeResult {
  const bad = `A resize is "r" followed by JSON {"cols": ${range.minCols}..${range.maxCols}, "rows": ${range.minRows}..${range.maxRows}, "claim"?: true|false}.`;
  if (payload.length === 0 || payload.length > MAX_RESIZE_JSON_BYTES) return fail('invalid_resize', bad);
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return fail('invalid_resize', bad);
  }
  if (!v || typeof v !== 'object') return fail('invalid_resize', bad);
  const { cols, rows, claim } = v as { cols?: unknown; rows?: unknown; claim?: unknown };
  if (!isSize(cols, range.minCols, range.maxCols) || !isSize(rows, range.minRows, range.maxRows)) return fail('invalid_resize', bad);
  if (claim !== undefined && typeof claim !== 'boolean') return fail('invalid_resize', bad);
  return { ok: true, message: claim ? { type: 'resize', cols, rows, claim } : { type: 'resize', cols, rows } };
}

export function isSize(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Opcode then payload, one copy; a payload given in chunks (gathered output) is joined in place. */
function frame(op: number, payload: Buffer | string | readonly Buffer[]): Buffer {
  const parts = typeof payload === 'string' ? [Buffer.from(payload, 'utf8')] : Buffer.isBuffer(payload) ? [payload] : payload;
  let bytes = 0;
  for (const p of parts) bytes += p.length;
  const out = Buffer.allocUnsafe(bytes + 1);
  out[0] = op;
  let at = 1;
  for (const p of parts) at += p.copy(out, at);
  return out;
}

export interface Meta {
  id: string;
  name: string;
  cols: number;
  rows: number;
  viewers: number;
  role: 'owner' | 'read-only';
  behind: boolean;
  /** Who sets the PTY size: this viewer's device, another viewer's, or nobody yet (docs/protocol.md, size). */
  sizeControl: SizeControl;
  /** The terminal's mirror was rebuilt after a failure: snapshots may miss some output (docs/protocol.md). */
  degraded?: boolean;
}

export type SizeControl = 'you' | 'other' | 'none';

export interface ExitInfo {
  code: number | null;
  signal: number | null;
}

export const encode = {
  output: (data: Buffer | readonly Buffer[]): Buffer => frame(ServerOp.output, data),
  snapshot: (data: string): Buffer => frame(ServerOp.snapshot, data),
  exit: (info: ExitInfo): Buffer => frame(ServerOp.exit, JSON.stringify({ code: info.code, signal: info.signal })),
  meta: (meta: Meta): Buffer => frame(ServerOp.meta, JSON.stringify(meta)),
  notice: (code: NoticeCode, message: string): Buffer => frame(ServerOp.notice, JSON.stringify({ code, message })),
};

/** Client-side helpers (tests, bench, and a reference for the browser): build client frames. */
export const encodeClient = {
  input: (data: string | Buffer): Buffer => frame(ClientOp.input, data),
  resize: (cols: number, rows: number, claim = false): Buffer => frame(ClientOp.resize, JSON.stringify(claim ? { cols, rows, claim } : { cols, rows })),
  ack: (bytes: number): Buffer => frame(ClientOp.ack, String(bytes)),
};

export type ServerMessage =
  | { type: 'output'; data: Buffer }
  | { type: 'snapshot'; data: string }
  | { type: 'exit'; info: ExitInfo }
  | { type: 'meta'; meta: Meta }
  | { type: 'notice'; code: NoticeCode; message: string };

/** Decodes a server frame (client side). Throws on a frame the server never sends. */
export function decodeServerFrame(frame: Buffer): ServerMessage {
  if (frame.length === 0) throw new Error('empty server frame');
  const payload = frame.subarray(1);
  switch (frame[0]) {
    case ServerOp.output:
      return { type: 'output', data: payload };
    case ServerOp.snapshot:
      return { type: 'snapshot', data: payload.toString('utf8') };
    case ServerOp.exit:
      return { type: 'exit', info: JSON.parse(payload.toString('utf8')) as ExitInfo };
    case ServerOp.meta:
      return { type: 'meta', meta: JSON.parse(payload.toString('utf8')) as Meta };
    case ServerOp.notice: {
      const n = JSON.parse(payload.toString('utf8')) as { code: NoticeCode; message: string };
      return { type: 'notice', code: n.code, message: n.message };
    }
    default:
      throw new Error(`unknown server opcode ${frame[0]}`);
  }
}

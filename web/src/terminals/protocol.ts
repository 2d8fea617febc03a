/**
 * The terminal socket's frames (docs/protocol.md): binary, first byte the opcode.
 * Pure functions, no DOM: unit-tested under Node.
 */

/** Client → server. */
export const ClientOp = { input: 0x69 /* i */, resize: 0x72 /* r */, ack: 0x61 /* a */ } as const;
/** Server → client. */
export const ServerOp = { output: 0x6f /* o */, snapshot: 0x73 /* s */, exit: 0x78 /* x */, meta: 0x6d /* m */, notice: 0x65 /* e */ } as const;

export interface ExitInfo {
  code: number | null;
  signal: number | string | null;
}

/** What the server tells a viewer about the session; fields are optional so older servers still parse. */
export interface TerminalMeta {
  cols?: number;
  rows?: number;
  viewers?: number;
  role?: string;
  behind?: boolean;
  name?: string;
  /** Who sets the PTY size: this device, another one, or nobody yet (docs/protocol.md, Size). */
  sizeControl?: 'you' | 'other' | 'none';
  [k: string]: unknown;
}

export type ServerFrame =
  | { type: 'output'; data: Uint8Array }
  | { type: 'snapshot'; data: Uint8Array }
  | { type: 'exit'; exit: ExitInfo }
  | { type: 'meta'; meta: TerminalMeta }
  | { type: 'notice'; text: string }
  | { type: 'unknown'; op: number };

const enc = new TextEncoder();
const dec = new TextDecoder();

function frame(op: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(payload.length + 1);
  out[0] = op;
  out.set(payload, 1);
  return out;
}

export function encodeInput(data: string | Uint8Array): Uint8Array<ArrayBuffer> {
  return frame(ClientOp.input, typeof data === 'string' ? enc.encode(data) : data);
}

/** This device's preferred size; `claim` takes the size for this device ("Fit here"). */
export function encodeResize(cols: number, rows: number, claim = false): Uint8Array<ArrayBuffer> {
  return frame(ClientOp.resize, enc.encode(JSON.stringify(claim ? { cols, rows, claim: true } : { cols, rows })));
}

export function encodeAck(bytes: number): Uint8Array<ArrayBuffer> {
  return frame(ClientOp.ack, enc.encode(String(Math.max(0, Math.floor(bytes)))));
}

function parseJson(bytes: Uint8Array): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(dec.decode(bytes));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    // A malformed meta/exit payload is not worth dropping the connection over.
    return {};
  }
}

export function decodeServerFrame(buf: ArrayBuffer | Uint8Array): ServerFrame {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (bytes.length === 0) return { type: 'unknown', op: -1 };
  const op = bytes[0]!;
  const payload = bytes.subarray(1);
  switch (op) {
    case ServerOp.output:
      return { type: 'output', data: payload };
    case ServerOp.snapshot:
      return { type: 'snapshot', data: payload };
    case ServerOp.exit: {
      const j = parseJson(payload);
      const code = typeof j.code === 'number' ? j.code : null;
      const signal = typeof j.signal === 'number' || typeof j.signal === 'string' ? j.signal : null;
      return { type: 'exit', exit: { code, signal } };
    }
    case ServerOp.meta: {
      const j = parseJson(payload) as TerminalMeta;
      // Accept both {cols, rows} and {size: {cols, rows}}.
      const size = j.size as { cols?: unknown; rows?: unknown } | undefined;
      if (size && typeof size === 'object') {
        if (typeof size.cols === 'number') j.cols = size.cols;
        if (typeof size.rows === 'number') j.rows = size.rows;
      }
      return { type: 'meta', meta: j };
    }
    case ServerOp.notice:
      return { type: 'notice', text: dec.decode(payload) };
    default:
      return { type: 'unknown', op };
  }
}

/** How a close code reads to a user, and whether reconnecting can help. */
export function describeClose(code: number, reason: string): { message: string; retry: boolean; limit: boolean } {
  switch (code) {
    case 1000:
      return { message: reason || 'The terminal was closed.', retry: false, limit: false };
    case 1001:
      return { message: reason || 'Keel is restarting.', retry: true, limit: false };
    case 1008:
      return { message: reason || 'Not allowed: this link or session is no longer valid.', retry: false, limit: false };
    case 1009:
      return { message: reason || 'A message was too large for the server (frame limit).', retry: true, limit: false };
    case 1011:
      return { message: reason || 'The server hit an internal error.', retry: true, limit: false };
    case 1013:
      return { message: reason || 'Too many connections: try again later.', retry: true, limit: true };
    default:
      return { message: reason || 'Connection lost.', retry: true, limit: false };
  }
}

export function describeExit(exit: ExitInfo): string {
  if (exit.signal !== null && exit.signal !== 0 && exit.signal !== '') return `Process exited on signal ${exit.signal}.`;
  if (exit.code === null) return 'Process exited.';
  return exit.code === 0 ? 'Process exited.' : `Process exited with code ${exit.code}.`;
}

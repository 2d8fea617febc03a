/** Messages between the main thread (mirror.ts) and the mirror worker (mirror-worker.ts). */

export type ToWorker =
  | { t: 'open'; id: string; cols: number; rows: number; scrollback: number }
  | { t: 'data'; id: string; data: Uint8Array }
  | { t: 'resize'; id: string; cols: number; rows: number }
  | { t: 'snapshot'; id: string; req: number }
  | { t: 'text'; id: string; req: number; scrollback: number }
  | { t: 'trim'; id: string; req: number }
  | { t: 'close'; id: string };

export type FromWorker =
  /** `bytes` more of this mirror's input are parsed; `lines` is its buffer length now. */
  | { t: 'parsed'; id: string; bytes: number; lines: number }
  /** xterm threw on this mirror: it was rebuilt (from its own snapshot when readable) and may miss output since. */
  | { t: 'failed'; id: string; error: string }
  | { t: 'reply'; req: number; ok: true; value: SnapshotReply | string | number }
  | { t: 'reply'; req: number; ok: false; error: string };

export interface SnapshotReply {
  data: string;
  cols: number;
  rows: number;
  cursorX: number;
  cursorY: number;
}

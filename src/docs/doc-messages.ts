/** Messages between the document engine (main thread) and the document worker. Every request is answered, in order. */

export type ToWorker =
  /** Loads a document: its stored state, then updates applied since, then `version` is its version. */
  | { t: 'load'; req: number; room: string; state: Uint8Array | null; updates: Uint8Array[]; version: number }
  | { t: 'apply'; req: number; room: string; update: Uint8Array; lockedOut: boolean; maxDocBytes: number; maxStructs: number }
  /** The state as an update (everything a peer with `stateVector` lacks, or everything). */
  | { t: 'encode'; req: number; room: string; stateVector?: Uint8Array }
  | { t: 'stateVector'; req: number; room: string }
  | { t: 'text'; req: number; room: string }
  /** The text of a stored state, without loading it as a room (export of an unloaded document). */
  | { t: 'textOf'; req: number; state: Uint8Array | null }
  | { t: 'drop'; req: number; room: string };

export type ApplyReply =
  | { applied: true; update: Uint8Array | null; version: number; bytes: number }
  | { applied: false; reason: 'locked' | 'document_too_large' | 'unsupported_content' | 'too_many_structs'; message: string };

/** `cpuMs`: the worker thread's CPU time so far (`process.threadCpuUsage`), for the engine's accounting. */
export type FromWorker =
  | { t: 'ready'; cpuMs: number }
  | { t: 'reply'; req: number; cpuMs: number; ok: true; value: unknown }
  | { t: 'reply'; req: number; cpuMs: number; ok: false; error: string; malformed: boolean };

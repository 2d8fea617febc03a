/** The documents' worst-case memory from the limits: apart from manager.ts so it is known before Yjs loads. */
import type { KeelOptions } from '../config/options.ts';

/**
 * In-memory size of a loaded Y.Doc relative to its encoded state: about 12× for text edited at
 * random positions (measured: 3.5 MB encoded → 42 MB heap), far less for text typed in order.
 */
export const DOC_MEMORY_FACTOR = 12;
/** What the engine keeps to restore a document after a worker restart: its state and at most a quarter of it in updates since (doc-engine.ts). */
export const RECOVERY_FACTOR = 1.25;

/** The document worker's heap cap, MB: room for every loaded document at its largest, and 64 MB for the rest. */
export function docWorkerHeapMb(maxLoadedDocs: number, maxDocBytes: number): number {
  return Math.ceil((maxLoadedDocs * maxDocBytes * DOC_MEMORY_FACTOR) / (1024 * 1024)) + 64;
}

export type DocsBudgetOptions = Pick<KeelOptions, 'maxLoadedDocs' | 'maxDocBytes' | 'maxDocConnections' | 'docSendBufferBytes' | 'docPreJoinMaxBytes' | 'maxWsFrameBytes' | 'maxDocPendingUpdateBytes'>;

/** Worst-case bytes from the limits (see the note registered with it in routes.ts). */
export function docsBudgetBytes(o: DocsBudgetOptions): number {
  return o.maxLoadedDocs * o.maxDocBytes * (DOC_MEMORY_FACTOR + RECOVERY_FACTOR) + o.maxDocConnections * (o.docSendBufferBytes + o.docPreJoinMaxBytes + o.maxWsFrameBytes) + o.maxDocPendingUpdateBytes;
}

/** The documents' worst-case memory from the limits: apart from manager.ts so it is known before Yjs loads. */
import type { KeelOptions } from '../config/options.ts';

/**
 * In-memory size of a loaded Y.Doc relative to its encoded state: about 12× for text edited at
 * random positions (measured: 3.5 MB encoded → 42 MB heap), far less for text typed in order.
 */
export const DOC_MEMORY_FACTOR = 12;

export type DocsBudgetOptions = Pick<KeelOptions, 'maxLoadedDocs' | 'maxDocBytes' | 'maxDocConnections' | 'docSendBufferBytes' | 'docPreJoinMaxBytes' | 'maxWsFrameBytes'>;

/** Worst-case bytes from the limits (see the note registered with it in routes.ts). */
export function docsBudgetBytes(o: DocsBudgetOptions): number {
  return o.maxLoadedDocs * o.maxDocBytes * DOC_MEMORY_FACTOR + o.maxDocConnections * (o.docSendBufferBytes + o.docPreJoinMaxBytes + o.maxWsFrameBytes);
}

/** Thread counts from /proc, for tests that check worker threads start and stop (Linux). */
import fs from 'node:fs';

/** Worker threads of process `pid` (default: this one); Node names their threads "WorkerThread". */
export function workerThreads(pid: number | 'self' = 'self'): number {
  let n = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'WorkerThread') n++;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return n;
}

/** Polls a synchronous condition every 10 ms until it holds, or throws after `timeoutMs`. */
export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

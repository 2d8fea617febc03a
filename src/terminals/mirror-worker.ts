/**
 * The mirror worker: hosts the headless terminals of many sessions (mirror-host.ts), off the main
 * thread, because parsing terminal output costs CPU (a few MB/s per core) and must not delay
 * forwarding to viewers.
 */
import { parentPort } from 'node:worker_threads';
import type { ToWorker } from './mirror-messages.ts';
import { MirrorHost } from './mirror-host.ts';

const port = parentPort;
if (!port) throw new Error('mirror-worker.ts must run in a worker thread');
const host = new MirrorHost((m) => port.postMessage(m));
port.on('message', (m: ToWorker) => {
  try {
    host.handle(m);
  } catch (err) {
    // The host catches per session; anything here is a bug of its own. The other sessions of this
    // worker are worth more than dying for it: answer the request, if it was one, and go on.
    if ('req' in m) port.postMessage({ t: 'reply', req: m.req, ok: false, error: `mirror worker error: ${(err as Error)?.message ?? err}` });
  }
});

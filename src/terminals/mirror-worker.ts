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
port.on('message', (m: ToWorker) => host.handle(m));

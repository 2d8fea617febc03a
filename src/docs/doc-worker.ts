/**
 * The document worker: holds the Y.Doc of every loaded document and does all the Yjs work on them
 * (checking and applying client updates, encoding states, reading text), off the main thread. Yjs'
 * integration is not linear in the update for every input (concurrent inserts at one place cost
 * quadratic time), so no check before applying can bound it; here the main thread only waits for an
 * answer, and stops the worker when one uses more than --max-doc-apply-cpu-ms (doc-engine.ts).
 * Messages are handled in order and each is answered, so an answer reflects every request before it.
 */
import { parentPort } from 'node:worker_threads';
import * as Y from 'yjs';
import type { ApplyReply, FromWorker, ToWorker } from './doc-messages.ts';
import { checkUpdate, conforms, CONTENT_NAME } from './schema.ts';

interface Room {
  doc: Y.Doc;
  version: number;
  /** Encoded size: exact after load and encode, plus each applied update since. */
  bytes: number;
  measuredVersion: number;
  /** Stored before updates were checked and holds more than the root text (schema.ts). */
  legacy: boolean;
  /** Updates the current apply produced (one transaction makes one, but a listener must not assume it). */
  produced: Uint8Array[];
}

const port = parentPort;
if (!port) throw new Error('doc-worker.ts must run in a worker thread');
const rooms = new Map<string, Room>();

class Malformed extends Error {}

function load(state: Uint8Array | null, updates: Uint8Array[], version: number): Room {
  const doc = new Y.Doc();
  doc.getText(CONTENT_NAME);
  if (state?.byteLength) Y.applyUpdate(doc, state);
  for (const u of updates) Y.applyUpdate(doc, u);
  const room: Room = {
    doc,
    version,
    bytes: updates.length ? Y.encodeStateAsUpdate(doc).byteLength : (state?.byteLength ?? 0),
    measuredVersion: -1,
    legacy: !conforms(doc),
    produced: [],
  };
  // Attached after loading: loading is not an edit.
  doc.on('update', (u: Uint8Array) => {
    room.version++;
    room.bytes += u.byteLength;
    room.produced.push(u);
  });
  return room;
}

function apply(r: Room, m: Extract<ToWorker, { t: 'apply' }>): ApplyReply {
  let refusal;
  try {
    refusal = checkUpdate(r.doc, m.update, m.maxStructs, r.legacy);
  } catch (err) {
    throw new Malformed(`update does not decode: ${(err as Error).message}`);
  }
  if (refusal) return { applied: false, ...refusal };
  let contained: boolean | undefined;
  const isNoop = () => (contained ??= Y.snapshotContainsUpdate(Y.snapshot(r.doc), m.update));
  if (m.lockedOut && !isNoop()) return { applied: false, reason: 'locked', message: '' };
  if (r.bytes + m.update.byteLength > m.maxDocBytes) {
    // The running estimate over-counts (merged and deleted content shrinks when encoded): measure,
    // once per version, so refused updates near the limit cost no repeated full encodes.
    if (r.measuredVersion !== r.version) {
      r.bytes = Y.encodeStateAsUpdate(r.doc).byteLength;
      r.measuredVersion = r.version;
    }
    if (r.bytes + m.update.byteLength > m.maxDocBytes && !isNoop()) {
      return { applied: false, reason: 'document_too_large', message: `The document is ${r.bytes} bytes; this change would take it past the limit of ${m.maxDocBytes} bytes (option --max-doc-bytes). It was not applied.` };
    }
  }
  r.produced = [];
  try {
    Y.applyUpdate(r.doc, m.update);
  } catch (err) {
    throw new Malformed(`update could not be applied: ${(err as Error).message}`);
  }
  // Structs waiting for missing dependencies emit no 'update' but hold memory: count them.
  if (r.doc.store.pendingStructs || r.doc.store.pendingDs) r.bytes = Y.encodeStateAsUpdate(r.doc).byteLength;
  const produced = r.produced;
  r.produced = [];
  return { applied: true, update: produced.length === 0 ? null : produced.length === 1 ? produced[0]! : Y.mergeUpdates(produced), version: r.version, bytes: r.bytes };
}

function handle(m: ToWorker): unknown {
  switch (m.t) {
    case 'load':
      rooms.get(m.room)?.doc.destroy();
      rooms.set(m.room, load(m.state, m.updates, m.version));
      return undefined;
    case 'textOf': {
      const doc = new Y.Doc();
      try {
        if (m.state?.byteLength) Y.applyUpdate(doc, m.state);
        return doc.getText(CONTENT_NAME).toString();
      } finally {
        doc.destroy();
      }
    }
    case 'drop':
      rooms.get(m.room)?.doc.destroy();
      rooms.delete(m.room);
      return undefined;
  }
  const r = rooms.get(m.room);
  if (!r) throw new Error(`document ${m.room} is not loaded`);
  switch (m.t) {
    case 'apply':
      return apply(r, m);
    case 'encode': {
      const state = Y.encodeStateAsUpdate(r.doc, m.stateVector);
      if (!m.stateVector) {
        r.bytes = state.byteLength;
        r.measuredVersion = r.version;
      }
      return { state, version: r.version };
    }
    case 'stateVector':
      return Y.encodeStateVector(r.doc);
    case 'text':
      return r.doc.getText(CONTENT_NAME).toString();
  }
}

const cpuMs = () => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

port.on('message', (m: ToWorker) => {
  let reply: FromWorker;
  try {
    const value = handle(m);
    reply = { t: 'reply', req: m.req, cpuMs: cpuMs(), ok: true, value };
  } catch (err) {
    reply = { t: 'reply', req: m.req, cpuMs: cpuMs(), ok: false, error: String((err as Error)?.message ?? err), malformed: err instanceof Malformed };
  }
  port.postMessage(reply);
});
port.postMessage({ t: 'ready', cpuMs: cpuMs() } satisfies FromWorker);

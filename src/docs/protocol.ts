/**
 * The document socket's wire format: the standard Yjs WebSocket protocol (y-protocols sync and
 * awareness, as y-websocket speaks it) plus one Keel message type carrying JSON control messages
 * (locks, refusals). Pure functions, tested without a server; docs/documents.md is the reference.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

/** Outer message types (first varUint of every frame). */
export const MessageType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  keel: 100,
} as const;

/** Sync sub-types (y-protocols/sync). */
export const SyncStep = {
  step1: 0,
  step2: 1,
  update: 2,
} as const;

/** Close codes of the document socket (44xx: y-websocket does not reconnect; see docs/documents.md). */
export const DocCloseCode = {
  malformed: 4400,
  deleted: 4404,
  updateTooLarge: 4413,
  flooding: 4429,
} as const;

/** Largest JSON control message accepted from a client. */
export const MAX_CONTROL_BYTES = 4 * 1024;
/** Most awareness entries one message may carry (a client sends its own, rarely more). */
export const MAX_AWARENESS_ENTRIES = 16;

export class MalformedMessage extends Error {
  override readonly name = 'MalformedMessage';
}

export interface AwarenessEntry {
  clientId: number;
  clock: number;
  /** The JSON state as sent ("null" when the client left). */
  state: string;
}

export type ClientMessage =
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  | { kind: 'update'; update: Uint8Array; step: 'step2' | 'update' }
  | { kind: 'awareness'; entries: AwarenessEntry[] }
  | { kind: 'query-awareness' }
  | { kind: 'auth' }
  | { kind: 'control'; control: ClientControl };

export type ClientControl = { type: 'lock'; ttlMs?: number } | { type: 'unlock' };

/**
 * Decodes one client frame. Throws MalformedMessage for anything that is not a well-formed message
 * (unknown type, truncated payload, a state vector that does not decode, bad control JSON). Update
 * payloads are only framed here; their contents are validated by the room before they are applied.
 */
export function decodeClientMessage(data: Uint8Array): ClientMessage {
  try {
    const d = decoding.createDecoder(data);
    const type = decoding.readVarUint(d);
    switch (type) {
      case MessageType.sync: {
        const step = decoding.readVarUint(d);
        const payload = decoding.readVarUint8Array(d);
        if (step === SyncStep.step1) {
          // Decoding it here means a garbage state vector never reaches encodeStateAsUpdate.
          Y.decodeStateVector(payload);
          return { kind: 'sync-step1', stateVector: payload };
        }
        if (step === SyncStep.step2 || step === SyncStep.update) return { kind: 'update', update: payload, step: step === SyncStep.step2 ? 'step2' : 'update' };
        throw new MalformedMessage(`unknown sync step ${step}`);
      }
      case MessageType.awareness:
        return { kind: 'awareness', entries: decodeAwarenessUpdate(decoding.readVarUint8Array(d)) };
      case MessageType.queryAwareness:
        return { kind: 'query-awareness' };
      case MessageType.auth:
        return { kind: 'auth' };
      case MessageType.keel:
        return { kind: 'control', control: parseControl(decoding.readVarString(d)) };
      default:
        throw new MalformedMessage(`unknown message type ${type}`);
    }
  } catch (err) {
    if (err instanceof MalformedMessage) throw err;
    // lib0 throws plain Errors / RangeErrors on truncated or oversized varints.
    throw new MalformedMessage(`undecodable frame: ${(err as Error).message}`);
  }
}

function parseControl(text: string): ClientControl {
  if (Buffer.byteLength(text) > MAX_CONTROL_BYTES) throw new MalformedMessage(`control message over ${MAX_CONTROL_BYTES} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new MalformedMessage('control message is not JSON');
  }
  if (!v || typeof v !== 'object') throw new MalformedMessage('control message is not an object');
  const o = v as Record<string, unknown>;
  if (o.type === 'unlock') return { type: 'unlock' };
  if (o.type === 'lock') {
    if (o.ttlMs === undefined) return { type: 'lock' };
    if (typeof o.ttlMs === 'number' && Number.isInteger(o.ttlMs) && o.ttlMs > 0) return { type: 'lock', ttlMs: o.ttlMs };
    throw new MalformedMessage('lock ttlMs must be a positive integer');
  }
  throw new MalformedMessage(`unknown control message type ${JSON.stringify(o.type)?.slice(0, 40)}`);
}

/** Decodes a y-protocols awareness update: varUint count, then (clientID, clock, JSON string) each. */
export function decodeAwarenessUpdate(payload: Uint8Array): AwarenessEntry[] {
  const d = decoding.createDecoder(payload);
  const n = decoding.readVarUint(d);
  if (n > MAX_AWARENESS_ENTRIES) throw new MalformedMessage(`awareness update with ${n} entries (at most ${MAX_AWARENESS_ENTRIES})`);
  const out: AwarenessEntry[] = [];
  for (let i = 0; i < n; i++) {
    const clientId = decoding.readVarUint(d);
    const clock = decoding.readVarUint(d);
    const state = decoding.readVarString(d);
    // Peers JSON.parse every state they receive: one bad string would break everyone's presence.
    if (state !== 'null') {
      try {
        JSON.parse(state);
      } catch {
        throw new MalformedMessage('awareness state is not JSON');
      }
    }
    out.push({ clientId, clock, state });
  }
  return out;
}

export function encodeAwarenessUpdate(entries: readonly AwarenessEntry[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const x of entries) {
    encoding.writeVarUint(e, x.clientId);
    encoding.writeVarUint(e, x.clock);
    encoding.writeVarString(e, x.state);
  }
  return encoding.toUint8Array(e);
}

export function awarenessMessage(entries: readonly AwarenessEntry[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MessageType.awareness);
  encoding.writeVarUint8Array(e, encodeAwarenessUpdate(entries));
  return encoding.toUint8Array(e);
}

/** SyncStep1: our state vector (`Y.encodeStateVector`). */
export function syncStep1Message(stateVector: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MessageType.sync);
  encoding.writeVarUint(e, SyncStep.step1);
  encoding.writeVarUint8Array(e, stateVector);
  return encoding.toUint8Array(e);
}

/** SyncStep2: what a peer lacks (`Y.encodeStateAsUpdate(doc, itsStateVector)`). */
export function syncStep2Message(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MessageType.sync);
  encoding.writeVarUint(e, SyncStep.step2);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

export function updateMessage(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MessageType.sync);
  encoding.writeVarUint(e, SyncStep.update);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

export function controlMessage(value: object): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MessageType.keel);
  encoding.writeVarString(e, JSON.stringify(value));
  return encoding.toUint8Array(e);
}

/** Decodes a server → client control message (for clients and tests). */
export function readControl(payload: decoding.Decoder): Record<string, any> {
  return JSON.parse(decoding.readVarString(payload));
}

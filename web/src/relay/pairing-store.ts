/**
 * Pairings this browser remembers, in IndexedDB (idb-keyval). The secret is kept only as a
 * non-extractable CryptoKey: page scripts can use it for the handshake but cannot read its bytes
 * back, and it is never written anywhere as text.
 */
import { createStore, del, get, set } from 'idb-keyval';
import { importPairingSecret } from '../../../src/tunnel/handshake.ts';
import type { PairingLink } from '../../../src/tunnel/pairing-link.ts';

export interface StoredPairing {
  hostId: string;
  pairingId: string;
  key: CryptoKey;
  savedAt: number;
}

const store = createStore('keel-relay', 'pairings');
const CURRENT = 'current';

/** Saves a pairing from a link (the secret becomes a non-extractable key) and makes it the current one. */
export async function rememberPairing(p: PairingLink): Promise<StoredPairing> {
  const saved: StoredPairing = { hostId: p.hostId, pairingId: p.pairingId, key: await importPairingSecret(p.secret), savedAt: Date.now() };
  p.secret.fill(0);
  try {
    await set(`host:${p.hostId}`, saved, store);
    await set(CURRENT, p.hostId, store);
  } catch {
    // Private browsing may refuse IndexedDB: the pairing still works for this page, it is just not remembered.
  }
  return saved;
}

export async function currentPairing(): Promise<StoredPairing | undefined> {
  try {
    const hostId = await get<string>(CURRENT, store);
    return hostId ? await get<StoredPairing>(`host:${hostId}`, store) : undefined;
  } catch {
    return undefined;
  }
}

export async function forgetPairing(hostId: string): Promise<void> {
  try {
    await del(`host:${hostId}`, store);
    if ((await get<string>(CURRENT, store)) === hostId) await del(CURRENT, store);
  } catch {
    // Nothing stored: nothing to forget.
  }
}

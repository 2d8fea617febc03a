/**
 * The pairing link: `https://relay.example/#pair=<hostId>.<pairingId>.<secret>`. Everything after
 * `#` stays in the browser (browsers never send the fragment to a server), so the relay that serves
 * the page never sees the secret.
 */
import { fromBase64url, toBase64url } from './bytes.ts';

export interface PairingLink {
  /** 22 characters: base64url of the first 16 bytes of SHA-256(the host's Ed25519 public key). */
  hostId: string;
  /** 12 characters, random: names the pairing (in clear in the handshake). */
  pairingId: string;
  /** 32 random bytes. */
  secret: Uint8Array;
}

const HOST_ID = /^[A-Za-z0-9_-]{22}$/;
const PAIRING_ID = /^[A-Za-z0-9_-]{12}$/;

export function isHostId(s: string): boolean {
  return HOST_ID.test(s);
}

export function formatPairingFragment(p: PairingLink): string {
  return `pair=${p.hostId}.${p.pairingId}.${toBase64url(p.secret)}`;
}

export function pairingUrl(relayUrl: string, p: PairingLink): string {
  const u = new URL(relayUrl);
  u.hash = formatPairingFragment(p);
  return u.toString();
}

/** Parses `#pair=…` (with or without the `#`); undefined when the fragment is not a pairing. */
export function parsePairingFragment(hash: string): PairingLink | undefined {
  const m = /^#?pair=([^.]+)\.([^.]+)\.([A-Za-z0-9_-]{43})$/.exec(hash);
  if (!m || !HOST_ID.test(m[1]!) || !PAIRING_ID.test(m[2]!)) return undefined;
  let secret: Uint8Array;
  try {
    secret = fromBase64url(m[3]!);
  } catch {
    return undefined;
  }
  return secret.length === 32 ? { hostId: m[1]!, pairingId: m[2]!, secret } : undefined;
}

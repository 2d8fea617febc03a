/**
 * Host identity: an Ed25519 key pair kept by the host; its id is derived from the public key, so
 * only the holder of the private key can register that id at a relay (challenge-response).
 */
import crypto from 'node:crypto';
import { REGISTER_CONTEXT } from './wire.ts';

export const HOST_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** base64url of the first 16 bytes of SHA-256(raw public key): 22 characters. */
export function hostIdOf(publicKeyRaw: Uint8Array): string {
  return crypto.createHash('sha256').update(publicKeyRaw).digest().subarray(0, 16).toString('base64url');
}

export function publicKeyFromRaw(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function rawPublicKey(key: crypto.KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' }) as { x: string };
  return Buffer.from(jwk.x, 'base64url');
}

export function signChallenge(privateKey: crypto.KeyObject, nonce: Uint8Array): Buffer {
  return crypto.sign(null, Buffer.concat([Buffer.from(REGISTER_CONTEXT), nonce]), privateKey);
}

/** Whether `signature` proves possession of the key behind `publicKeyRaw` for this challenge. */
export function verifyRegistration(publicKeyRaw: Uint8Array, nonce: Uint8Array, signature: Uint8Array): boolean {
  if (publicKeyRaw.length !== 32 || signature.length !== 64) return false;
  try {
    return crypto.verify(null, Buffer.concat([Buffer.from(REGISTER_CONTEXT), nonce]), publicKeyFromRaw(publicKeyRaw), signature);
  } catch {
    return false;
  }
}

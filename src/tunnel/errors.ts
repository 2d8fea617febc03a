/**
 * Why a tunnel ends, as WebSocket close codes (4000–4999 are the application's) and a clear
 * message. The same codes are used by the relay, the host and the browser, so a page can tell the
 * user what happened whichever hop noticed it.
 */

export const TunnelClose = {
  /** A frame failed authentication: tampered, replayed, reordered, dropped or from another tunnel. */
  security: 4001,
  /** The end-to-end handshake failed (wrong pairing secret, malformed or tampered handshake). */
  handshakeFailed: 4002,
  /** The host refused the pairing: unknown, revoked or expired. */
  pairingRefused: 4003,
  /** A peer broke the tunnel protocol (malformed message, window overrun). */
  protocol: 4004,
  /** The host has too many tunnels open (its own limit, not the relay's). */
  hostBusy: 4005,
  /** Relay: bad request (malformed host id). */
  badRequest: 4400,
  /** Relay: a host failed to prove possession of its key. */
  registrationFailed: 4401,
  /** Relay: no host with that id is connected. */
  hostNotConnected: 4404,
  /** Relay: handshake or idle timeout. */
  timeout: 4408,
  /** Relay: this host connection was replaced by a newer one with the same key. */
  replaced: 4409,
  /** Relay: a peer queued more than the tunnel's limit (it ignored the flow-control window). */
  queueFull: 4429,
  /** Relay: the host's connection went away. */
  hostGone: 4502,
} as const;

export type TunnelErrorCode = 'tampered' | 'replayed' | 'reordered' | 'handshake_failed' | 'refused' | 'protocol' | 'closed';

/** A tunnel failure with a stable code, a close code and a message for the user. */
export class TunnelError extends Error {
  readonly code: TunnelErrorCode;
  readonly closeCode: number;
  constructor(code: TunnelErrorCode, message: string, closeCode?: number) {
    super(message);
    this.name = 'TunnelError';
    this.code = code;
    this.closeCode = closeCode ?? (code === 'handshake_failed' ? TunnelClose.handshakeFailed : code === 'refused' ? TunnelClose.pairingRefused : code === 'protocol' ? TunnelClose.protocol : TunnelClose.security);
  }
}

/** Trims a close reason to what a close frame carries (123 bytes of UTF-8). */
export function closeReason(reason: string): string {
  let r = reason;
  while (new TextEncoder().encode(r).length > 123) r = r.slice(0, -1);
  return r;
}

/**
 * The host's WebRTC stack for direct paths: werift, pure TypeScript (native WebRTC bindings have a
 * history of crashing long-running Node processes, and those that download binaries at install
 * cannot install everywhere). Loaded on the first direct attempt: it costs ~0.7 s and tens of MB
 * to import, which a Keel that nobody reaches through the relay should not pay.
 */
import { DATA_CHANNEL_MAX_MESSAGE_BYTES, type IceServer, type MakePeer, type PeerLike } from '../tunnel/direct.ts';

export interface DirectHostOptions {
  /** Extra host addresses to offer as candidates (e.g. 127.0.0.1 for a browser on this machine; loopback is never gathered otherwise). */
  addresses: string[];
}

export function weriftPeers(o: DirectHostOptions): MakePeer {
  let werift: Promise<typeof import('werift')> | undefined;
  return async (iceServers: IceServer[]) => {
    werift ??= import('werift');
    const { RTCPeerConnection } = await werift;
    const pc = new RTCPeerConnection({
      iceServers,
      iceAdditionalHostAddresses: o.addresses.length ? o.addresses : undefined,
      // Tunnel frames reach 64 KiB + headers; werift's default limit is exactly 64 KiB.
      maxMessageSize: DATA_CHANNEL_MAX_MESSAGE_BYTES,
    });
    return pc as unknown as PeerLike;
  };
}

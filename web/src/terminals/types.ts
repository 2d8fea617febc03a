/** A terminal as the REST API returns it (docs/protocol.md). */
export interface TerminalInfo {
  id: string;
  name: string;
  cols: number;
  rows: number;
  cwd: string;
  command: string | null;
  pid?: number;
  createdAt: string;
  viewers?: number;
  /** The program running in the foreground; null while the shell waits at its prompt (docs/protocol.md). */
  foreground?: string | null;
}

/** A tab from Keel's previous run, offered for restoring. */
export interface PreviousTerminal {
  id: string;
  name: string;
  cwd: string;
  command: string | null;
  cols: number;
  rows: number;
  createdAt?: string;
}

/** The page link a read-only viewer opens (the `share` token of a share link: a capability for this terminal only, until it expires or is revoked). */
export function sharePageUrl(id: string, share: string, base: string = location.href): string {
  const u = new URL('/', base);
  u.hash = `#/t/${encodeURIComponent(id)}?share=${encodeURIComponent(share)}`;
  return u.toString();
}

/** Parses `#/t/<id>?share=<sig>` (the share page link). */
export function parseShareHash(hash: string): { id: string; share: string } | undefined {
  const m = /^#\/t\/([^?]+)\?(.*)$/.exec(hash);
  if (!m) return undefined;
  const share = new URLSearchParams(m[2]).get('share');
  if (!share) return undefined;
  return { id: decodeURIComponent(m[1]!), share };
}

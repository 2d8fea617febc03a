/**
 * Headers on every answer Keel gives (pages, JSON, assets, refusals written before routing).
 *
 * The Content-Security-Policy allows only Keel's own scripts, styles, fonts and connections, so
 * markup that slips into a page (a chat message, a document title) cannot run script, load from or
 * send to elsewhere, or be framed. `connect-src 'self'` covers same-host ws:/wss: in CSP Level 3
 * browsers. Styles keep 'unsafe-inline': the UI's libraries (xterm.js above all) create <style>
 * elements at run time and offer no nonce — without it Chromium reports a style-src-elem violation
 * per terminal and the screen loses its layout. Scripts stay strictly 'self'.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** Sets the security headers on a response that has not started yet. */
export function setSecurityHeaders(res: { setHeader(name: string, value: string): unknown; headersSent: boolean }): void {
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
}

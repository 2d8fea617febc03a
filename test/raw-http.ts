/**
 * A raw HTTP/1.1 client on a bare TCP socket, for requests no well-behaved client sends: WebSocket
 * upgrades the server refuses, bad %-escapes, over-long paths and headers, malformed requests.
 * `node:http` and `ws` normalise or refuse such input themselves, and hide what the server does
 * with the socket afterwards, which is what these tests are about.
 */
import net from 'node:net';

export interface RawAnswer {
  status: number;
  /** Header names lowercased; the last value wins. */
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection (sent FIN or reset) by itself. */
  serverClosed: boolean;
}

export interface RawRequestOptions {
  method?: string;
  /** Sent as is: no encoding, no normalisation. */
  path: string;
  /** Raw header lines, without the final blank line. A Host header is added unless one is given. */
  headers?: Record<string, string>;
  /**
   * What the client does once it has read the answer:
   *  - 'close': closes its side at once and frees its socket (a browser giving up on a WebSocket);
   *  - 'wait': never closes; waits for the server to close the connection, and fails after
   *    `serverCloseTimeoutMs` if it does not (a client that keeps a refused socket open).
   */
  after: 'close' | 'wait';
  serverCloseTimeoutMs?: number;
  /** Bound for the whole exchange up to the answer. */
  timeoutMs?: number;
}

/** The headers of a browser's WebSocket handshake (version 13, a valid key). */
export function wsHandshakeHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    ...extra,
  };
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const lines = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers };
}

/**
 * Sends one request on a new connection and reads one answer (headers and a Content-Length body).
 * Resolves once the client socket is fully closed, so fd counts taken afterwards see nothing of it.
 */
export function rawRequest(port: number, opts: RawRequestOptions): Promise<RawAnswer> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const serverCloseTimeoutMs = opts.serverCloseTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const headers = { Host: `127.0.0.1:${port}`, ...opts.headers };
    const text = `${opts.method ?? 'GET'} ${opts.path} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let buf = Buffer.alloc(0);
    let answer: Omit<RawAnswer, 'serverClosed'> | undefined;
    let serverClosed = false;
    let settled = false;
    let timer = setTimeout(() => fail(new Error(`no answer to ${opts.method ?? 'GET'} ${opts.path.slice(0, 80)} within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      reject(err);
    };
    const tryParse = () => {
      if (answer) return;
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const { status, headers: h } = parseHead(buf.subarray(0, end).toString('latin1'));
      const len = Number(h['content-length'] ?? 'NaN');
      const body = buf.subarray(end + 4);
      if (Number.isFinite(len) && body.length < len && !serverClosed) return;
      answer = { status, headers: h, body: body.subarray(0, Number.isFinite(len) ? len : body.length).toString('utf8') };
      clearTimeout(timer);
      if (opts.after === 'close') {
        s.destroy();
      } else if (!serverClosed) {
        timer = setTimeout(() => fail(new Error(`the server kept the connection open ${serverCloseTimeoutMs} ms after answering ${status} to ${opts.method ?? 'GET'} ${opts.path.slice(0, 80)}`)), serverCloseTimeoutMs);
      }
    };
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      tryParse();
    });
    s.on('end', () => {
      serverClosed = true;
      tryParse();
    });
    s.on('error', () => {
      // A reset after the answer is a server close as far as these tests go.
      serverClosed = true;
    });
    s.on('close', () => {
      serverClosed = true;
      tryParse();
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!answer) reject(new Error(`the server closed the connection without an answer to ${opts.method ?? 'GET'} ${opts.path.slice(0, 80)} (got ${JSON.stringify(buf.toString('latin1').slice(0, 200))})`));
      else resolve({ ...answer, serverClosed });
    });
  });
}

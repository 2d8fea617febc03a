/** A minimal terminal viewer for benchmarks: speaks docs/protocol.md over a real WebSocket. */
import WebSocket from 'ws';

export interface ViewerOptions {
  /** 'browser': acknowledge every frame at once; 'rate': acknowledge at most `ackBytesPerSec`; 'none': never. */
  ack: 'browser' | 'rate' | 'none';
  ackBytesPerSec?: number;
  /** Another WebSocket URL speaking the same frames (the bare relay of the throughput bench). */
  url?: string;
}

export class Viewer {
  readonly ws: WebSocket;
  received = 0;
  /** Output and snapshot frames received. */
  frames = 0;
  text = '';
  keepText = false;
  exited = false;
  /** `e` notices received (e.g. `input_busy`), the last 50. */
  readonly notices: { code: string; message: string }[] = [];
  #pendingAck = 0;
  #timer: NodeJS.Timeout | undefined;
  #waiters: { pred: () => boolean; resolve: () => void }[] = [];

  constructor(base: string, token: string, id: string, o: ViewerOptions) {
    this.ws = new WebSocket(o.url ?? `${base.replace('http', 'ws')}/api/terminals/${id}/ws`, { headers: { authorization: `Bearer ${token}`, origin: base } });
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('message', (data: Buffer) => {
      const op = String.fromCharCode(data[0]!);
      if (op === 'o' || op === 's') {
        const n = data.length - 1;
        this.frames++;
        this.received += n;
        if (this.keepText) this.text += data.subarray(1).toString('latin1');
        if (o.ack === 'browser') this.ws.send(Buffer.from(`a${n}`));
        else if (o.ack === 'rate') this.#pendingAck += n;
      } else if (op === 'x') this.exited = true;
      else if (op === 'e') {
        this.notices.push(JSON.parse(data.subarray(1).toString()));
        if (this.notices.length > 50) this.notices.shift();
      }
      this.#check();
    });
    this.ws.on('close', () => {
      this.exited = true;
      this.#check();
    });
    if (o.ack === 'rate') {
      const perTick = Math.max(1, Math.round((o.ackBytesPerSec ?? 200_000) / 10));
      this.#timer = setInterval(() => {
        const n = Math.min(perTick, this.#pendingAck);
        if (n > 0 && this.ws.readyState === WebSocket.OPEN) {
          this.#pendingAck -= n;
          this.ws.send(Buffer.from(`a${n}`));
        }
      }, 100);
    }
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  input(s: string): void {
    this.ws.send(Buffer.concat([Buffer.from('i'), Buffer.from(s)]));
  }

  until(pred: () => boolean, timeoutMs = 120_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: () => (clearTimeout(t), resolve()) };
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error('timed out waiting for terminal output'));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  #check(): void {
    if (!this.#waiters.length) return;
    this.#waiters = this.#waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
  }

  close(): void {
    clearInterval(this.#timer);
    this.ws.close();
  }
}

export async function createTerminal(base: string, token: string, body: Record<string, unknown> = {}): Promise<{ id: string; pid: number }> {
  const r = await fetch(`${base}/api/terminals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ cols: 120, rows: 40, ...body }),
  });
  if (r.status !== 201) throw new Error(`create terminal: ${r.status} ${await r.text()}`);
  return (await r.json()) as { id: string; pid: number };
}

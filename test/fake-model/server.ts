/**
 * A fake model server speaking the OpenAI-compatible chat-completions protocol over real HTTP, so
 * the real AI SDK client (and its SSE parser, retries and abort handling) is what the tests drive.
 *
 *   const model = await FakeModel.start();
 *   model.enqueue({ text: 'hello' }, { toolCalls: [{ name: 'terminal_list', args: {} }] });
 *   // point the agent at model.baseUrl; afterwards assert on model.requests
 *   await model.close();
 *
 * Each POST /v1/chat/completions takes the next scripted response from the queue. `stream: true`
 * requests get SSE chunks (`data: {choices:[{delta:{content}}]}` … `data: [DONE]`), tool calls
 * streamed as `tool_calls` deltas with the arguments split over several chunks; other requests get
 * one JSON completion. With the queue empty the server answers 500 so a test never hangs on it.
 * A scripted function that throws also answers 500, with its message (see `scriptErrors`).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeToolCall {
  name: string;
  /** An object (sent as JSON) or the raw arguments string (to send invalid JSON on purpose). */
  args: unknown;
  id?: string;
}

export type FakeResponse =
  /** Text, streamed in `chunks` pieces (default: about 8 characters each). */
  | { text: string; chunks?: number; delayMs?: number; toolCalls?: undefined; usage?: { prompt: number; completion: number } }
  /** Tool calls (optionally after some text), finish_reason "tool_calls". */
  | { toolCalls: FakeToolCall[]; text?: string; delayMs?: number; chunks?: number; usage?: { prompt: number; completion: number } }
  /** An HTTP error status with an OpenAI-style error body. */
  | { error: { status: number; message: string } }
  /** Stream `text` (may be empty) then never finish: the client must abort. */
  | { hang: true; text?: string };

/** A response, or a function choosing it from the request (e.g. to use a terminal id from a tool result). */
export type Scripted = FakeResponse | ((req: RecordedRequest) => FakeResponse);

export interface RecordedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** Set when the client closed the connection before the response ended (an abort). */
  aborted: boolean;
}

export class FakeModel {
  readonly requests: RecordedRequest[] = [];
  /** Messages of scripted functions that threw (a test asserting inside a script sees them here). */
  readonly scriptErrors: string[] = [];
  readonly #queue: Scripted[] = [];
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #waiters = new Set<() => void>();
  #port = 0;
  #seq = 0;

  private constructor() {
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(): Promise<FakeModel> {
    const m = new FakeModel();
    await new Promise<void>((resolve) => m.#server.listen(0, '127.0.0.1', resolve));
    m.#port = (m.#server.address() as AddressInfo).port;
    return m;
  }

  /** The base URL to configure (`--agent-base-url`), ending in /v1. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.#port}/v1`;
  }

  get pending(): number {
    return this.#queue.length;
  }

  enqueue(...responses: Scripted[]): this {
    this.#queue.push(...responses);
    return this;
  }

  /** Resolves once `n` requests have arrived (bounded). */
  async waitForRequests(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() > deadline) throw new Error(`fake model: expected ${n} requests within ${timeoutMs} ms, got ${this.requests.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 50);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = null;
    }
    const rec: RecordedRequest = { path: req.url ?? '', headers: req.headers, body, aborted: false };
    this.requests.push(rec);
    res.on('close', () => {
      if (!res.writableFinished) rec.aborted = true;
    });
    for (const w of [...this.#waiters]) w();
    this.#waiters.clear();

    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) return json(res, 404, { error: { message: `fake model: no route ${req.method} ${req.url}` } });
    const scripted = this.#queue.shift();
    let next: FakeResponse | undefined;
    try {
      next = typeof scripted === 'function' ? scripted(rec) : scripted;
    } catch (err) {
      this.scriptErrors.push((err as Error).message);
      return json(res, 500, { error: { message: `fake model: script failed: ${(err as Error).message}`, type: 'server_error' } });
    }
    if (!next) return json(res, 500, { error: { message: 'fake model: no scripted response left', type: 'server_error' } });
    if ('error' in next) return json(res, next.error.status, { error: { message: next.error.message, type: 'invalid_request_error' } });

    const id = `chatcmpl-${++this.#seq}`;
    const created = Math.floor(Date.now() / 1000);
    const model = String(body?.model ?? 'fake');
    const calls = 'toolCalls' in next && next.toolCalls ? next.toolCalls.map((c, i) => ({ id: c.id ?? `call_${this.#seq}_${i}`, name: c.name, args: typeof c.args === 'string' ? c.args : JSON.stringify(c.args) })) : [];
    const text = next.text ?? '';
    const usage = 'usage' in next && next.usage ? next.usage : { prompt: 10, completion: 5 };

    if (!body?.stream) {
      if ('hang' in next) return; // never answered; the client aborts
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text || null, ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } })) } : {}) },
            finish_reason: calls.length ? 'tool_calls' : 'stop',
          },
        ],
        usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion },
      });
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (delta: unknown, finish: string | null = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
    const delayMs = 'delayMs' in next ? (next.delayMs ?? 0) : 0;
    const pause = () => (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)) : Promise.resolve());

    send({ role: 'assistant', content: '' });
    const pieces = split(text, 'chunks' in next && next.chunks ? next.chunks : Math.max(1, Math.ceil(text.length / 8)));
    for (const p of pieces) {
      if (res.destroyed) return;
      send({ content: p });
      await pause();
    }
    if ('hang' in next) return; // headers and text sent; the stream never ends
    calls.forEach((c, index) => {
      send({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
      for (const a of split(c.args, Math.min(3, Math.max(1, c.args.length)))) send({ tool_calls: [{ index, function: { arguments: a } }] });
    });
    send({}, calls.length ? 'tool_calls' : 'stop');
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion } })}\n\n`);
    res.end('data: [DONE]\n\n');
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

function split(s: string, n: number): string[] {
  if (!s) return [];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** The last `role: "tool"` message's content in a recorded chat-completions request (what the agent answered). */
export function lastToolContent(req: RecordedRequest): string {
  const msgs = (req.body?.messages ?? []) as { role: string; content: unknown }[];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]!.role === 'tool') return String(msgs[i]!.content);
  throw new Error('fake model: the request has no tool message');
}

/** Test plumbing for the documents subsystem: a real Keel, JSON calls, document clients. */
import { request, startKeel, waitFor, type TestKeel } from '../../test/helpers.ts';
import type { KeelDeps } from '../app.ts';
import type { KeelOptions } from '../config/options.ts';
import type { DocumentManager } from './manager.ts';
import { DocClient, type DocClientOptions } from './test-client.ts';

export { waitFor };

export interface ApiAnswer {
  status: number;
  text: string;
  json: any;
  headers: Record<string, unknown>;
}

export interface DocsServer {
  k: TestKeel;
  mgr: DocumentManager;
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** Creates a document; returns its id. */
  create(title?: string): Promise<string>;
  open(id: string, opts?: DocClientOptions): Promise<DocClient>;
  stats(): Record<string, any>;
  close(): Promise<void>;
}

export async function startDocs(overrides: Partial<KeelOptions> = {}, deps: KeelDeps = {}): Promise<DocsServer> {
  const k = await startKeel({ docUnloadGraceMs: 50, docStoreDebounceMs: 20, docStoreMaxDebounceMs: 100, ...overrides }, deps);
  const mgr = k.keel.ctx.services.docs!;
  const srv: DocsServer = {
    k,
    mgr,
    async api(method, path, body) {
      const res = await request(k.url + path, {
        method,
        headers: { ...k.authHeaders, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      let json: any;
      try {
        json = res.text ? JSON.parse(res.text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, text: res.text, json, headers: res.headers };
    },
    async create(title = 'Notes') {
      const r = await srv.api('POST', '/api/docs', { title });
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.text}`);
      return r.json.id;
    },
    open(id, opts = {}) {
      return DocClient.open(`${k.wsUrl}/api/docs/${id}/ws`, { headers: k.authHeaders, ...opts });
    },
    stats() {
      return mgr.stats();
    },
    close: () => k.close(),
  };
  return srv;
}

/** Waits until every client's text equals `expected`. */
export async function converged(clients: DocClient[], expected: string, what = 'clients to converge'): Promise<void> {
  await waitFor(() => clients.every((c) => c.text === expected), `${what} on ${JSON.stringify(expected.slice(0, 60))} (have ${clients.map((c) => JSON.stringify(c.text.slice(0, 60))).join(', ')})`);
}

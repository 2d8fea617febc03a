/**
 * Plumbing for bench/hostile.bench.ts: requests on a fresh connection each (a keep-alive socket left
 * open would show up in the connection counts the refused-upgrade phase compares), the server's
 * /debug/memory and fds, bounded waits, and the record each phase fills.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { KeelProcess } from './lib.ts';

export const MiB = 1024 * 1024;

export interface Answer {
  status: number;
  text: string;
  json: any;
  ms: number;
}

/** One request as the owner (Bearer token, same-origin Origin), `Connection: close`. */
export function api(keel: KeelProcess, method: string, pathname: string, body?: unknown, timeoutMs = 30_000): Promise<Answer> {
  const t0 = performance.now();
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      keel.base + pathname,
      {
        method,
        agent: false,
        timeout: timeoutMs,
        headers: {
          authorization: `Bearer ${keel.token}`,
          origin: keel.base,
          connection: 'close',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json, ms: performance.now() - t0 });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function debugMemory(keel: KeelProcess): Promise<any> {
  const r = await api(keel, 'GET', '/debug/memory');
  if (r.status !== 200) throw new Error(`/debug/memory answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.json;
}

export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Polls `pred` every `everyMs` until it returns something truthy; throws after `timeoutMs` saying what it waited for. */
export async function until<T>(pred: () => T | Promise<T>, what: string, timeoutMs: number, everyMs = 100): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What a phase found besides latency and RSS: figures (with an optional bound) and errors. */
export interface PhaseReport {
  figures: { metric: string; value: number; unit: string; target?: { op: '<=' | '>=' | '<'; limit: number } }[];
  errors: string[];
}

export function newReport(): PhaseReport {
  return { figures: [], errors: [] };
}

export interface PhaseContext {
  keel: KeelProcess;
  dataDir: string;
  quick: boolean;
}

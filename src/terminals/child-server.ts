/**
 * Test helper: the real `keel` command in a child process. For tests where the server may freeze
 * (a stalled event loop in the test's own process would also stop the test's timers, so the test
 * could only hang, never fail) and for tests of signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestServer } from './test-helpers.ts';

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

export interface ChildServer {
  child: ChildProcess;
  base: string;
  token: string;
  dataDir: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** REST call with the owner's token; rejects after `timeoutMs` (a frozen server must fail the test, not hang it). */
  api(method: string, p: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; json: any; text: string }>;
  /** What TestClient needs (it only reads `base` and `token`). */
  asTestServer(): TestServer;
  /** SIGKILL if still running, then removes the data directory. */
  kill(): Promise<void>;
}

/** An environment without KEEL_* variables (the test's own settings must not leak into the child). */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEEL_') && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, ...extra };
}

export async function startChildServer(args: string[] = [], env: Record<string, string> = {}): Promise<ChildServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-child-'));
  const child = spawn(process.execPath, [CLI, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-64 * 1024)));
  child.stderr!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-64 * 1024)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const end = Date.now() + 30_000;
  let m: RegExpExecArray | null = null;
  while (!(m = /Open:\s+(http:\/\/\S+)\/\?token=([A-Za-z0-9_-]+)/.exec(out))) {
    if (Date.now() > end || child.exitCode !== null) {
      await kill();
      throw new Error(`keel did not start; output: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const base = m[1]!;
  const token = m[2]!;
  const s: ChildServer = {
    child,
    base,
    token,
    dataDir,
    output: () => out,
    exited,
    kill,
    async api(method, p, body, timeoutMs = 10_000) {
      const res = await fetch(base + p, {
        method,
        headers: { authorization: 'Bearer ' + token, origin: base, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text };
    },
    asTestServer: () => ({ base, token }) as unknown as TestServer,
  };
  return s;
}

/** One GET on a fresh connection; resolves to its latency in ms, or `Infinity` when it did not answer within `timeoutMs`. */
export function timedGet(url: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(Infinity));
  });
}

/** Polls `url` back to back until `stop()` holds; returns every latency (ms). */
export async function pollLatencies(url: string, stop: () => boolean, timeoutMs = 2_000): Promise<number[]> {
  const out: number[] = [];
  while (!stop()) {
    out.push(await timedGet(url, timeoutMs));
    await new Promise((r) => setTimeout(r, 10));
  }
  return out;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

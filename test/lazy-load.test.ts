/**
 * Load only what is used (issue 12): a Keel at rest has not loaded Yjs, the AI SDK and its
 * providers, the heap profiler, qrcode or the relay connector; each loads when it is used (or at
 * start when its option asks for it); the document worker thread starts with the first document and
 * stops when none is used. Keel runs in a child process preloaded with
 * test/module-recorder.ts, which lists every module it loaded.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request, tmpDir } from './helpers.ts';
import { workerThreads } from './threads.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Modules that must not load at rest, by the part of their URL that names them. */
const LAZY: Record<string, RegExp> = {
  yjs: /\/node_modules\/(yjs|lib0|y-protocols)\//,
  'docs manager': /\/src\/docs\/manager\.ts$/,
  'AI SDK': /\/node_modules\/(ai|@ai-sdk\/[^/]+)\//,
  'agent turn loop': /\/src\/agent\/(turn|provider|tools)\.ts$/,
  pprof: /\/node_modules\/@datadog\/pprof\//,
  qrcode: /\/node_modules\/qrcode\//,
  'relay connector': /\/src\/relay-host\/connector\.ts$/,
};

interface Child {
  base: string;
  token: string;
  proc: ChildProcess;
  loaded(): Promise<string[]>;
  stop(): Promise<void>;
}

async function startChild(args: string[] = []): Promise<Child> {
  const dir = tmpDir('keel-lazy-');
  const log = path.join(dir, 'modules.txt');
  const proc = spawn(process.execPath, ['--import', path.join(ROOT, 'test/module-recorder.ts'), path.join(ROOT, 'src/cli.ts'), '--port', '0', '--data-dir', dir, '--log-level', 'warn', ...args], {
    env: { ...process.env, KEEL_MODULE_LOG: log, KEEL_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<URL>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`keel did not start:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /Open:\s+(\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(new URL(m[1]!));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d) => (out += d));
    proc.once('exit', (code) => reject(new Error(`keel exited with ${code}:\n${out}`)));
  });
  proc.stdout!.resume();
  return {
    base: url.origin,
    token: url.searchParams.get('token')!,
    proc,
    async loaded() {
      fs.rmSync(log, { force: true });
      proc.kill('SIGUSR2');
      for (let i = 0; i < 200 && !fs.existsSync(log); i++) await new Promise((r) => setTimeout(r, 25));
      return fs.readFileSync(log, 'utf8').split('\n');
    },
    async stop() {
      if (proc.exitCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function which(loaded: string[]): string[] {
  return Object.entries(LAZY)
    .filter(([, re]) => loaded.some((u) => re.test(u)))
    .map(([name]) => name);
}

describe('lazy loading: what a Keel at rest has not loaded', () => {
  const children: Child[] = [];
  after(async () => {
    for (const c of children) await c.stop();
  });

  it('at rest none of them is loaded; documents load Yjs, the first profile loads pprof', async () => {
    const k = await startChild();
    children.push(k);
    const auth = { authorization: `Bearer ${k.token}`, origin: k.base };
    assert.deepEqual(which(await k.loaded()), [], 'loaded at rest');
    // Still not after ordinary use of other parts.
    assert.equal((await request(`${k.base}/debug/memory`, { headers: auth })).status, 200);
    assert.equal((await request(`${k.base}/api/relay/pairings`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })).status, 409);
    assert.deepEqual(which(await k.loaded()), []);

    const made = await request(`${k.base}/api/docs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'lazy' }) });
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(which(await k.loaded()), ['yjs', 'docs manager']);
    assert.equal((await request(`${k.base}/debug/pprof/heap`, { headers: auth })).status, 200);
    assert.deepEqual(which(await k.loaded()), ['yjs', 'docs manager', 'pprof']);
  });

  it('the document worker is not started at rest, starts with a document and stops after --doc-worker-idle-ms', async () => {
    const k = await startChild(['--doc-worker-idle-ms', '300']);
    children.push(k);
    const auth = { authorization: `Bearer ${k.token}`, origin: k.base };
    const threads = () => workerThreads(k.proc.pid!);
    const docsStats = async () => JSON.parse((await request(`${k.base}/debug/memory`, { headers: auth })).text).subsystems.docs;
    assert.equal(threads(), 0, 'no worker thread at rest');
    const made = await request(`${k.base}/api/docs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'w' }) });
    assert.equal(made.status, 201, made.text);
    // Listing and creating are the database's: still no worker.
    assert.equal(threads(), 0, 'no worker thread for REST that does not touch a document');
    const { id } = JSON.parse(made.text);
    const exported = await request(`${k.base}/api/docs/${id}/export`, { headers: auth });
    assert.equal(exported.status, 200, exported.text);
    const s = await docsStats();
    assert.deepEqual([s.worker_running, s.worker_starts], [1, 1], JSON.stringify(s));
    assert.equal(threads(), 1);
    for (let i = 0; i < 200 && threads() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(threads(), 0, 'the idle worker thread exited');
    const after = await docsStats();
    assert.deepEqual([after.worker_running, after.worker_idle_stops], [0, 1], JSON.stringify(after));
  });

  it('a configured model loads the SDK at start, and --relay the connector', async () => {
    const k = await startChild(['--agent-provider', 'openai-compatible', '--agent-base-url', 'http://127.0.0.1:9/v1', '--agent-model', 'm', '--relay', 'http://127.0.0.1:9']);
    children.push(k);
    let got: string[] = [];
    // The SDK loads in the background once the agent is built.
    for (let i = 0; i < 100; i++) {
      got = which(await k.loaded());
      if (got.includes('AI SDK')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(got, ['AI SDK', 'agent turn loop', 'relay connector']);
  });
});

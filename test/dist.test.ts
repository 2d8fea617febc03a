/**
 * `npm start` and the `keel` command run the built JavaScript (issue 12): bin/keel.js runs
 * dist/<build id>/cli.js, builds it when the sources changed since, and the process re-executes
 * itself with the V8 flags and malloc settings of its options. Terminals (the mirror worker),
 * documents (the manager and the document worker) and the relay work from the build.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { request, tmpDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { buildId, DIST } = (await import(path.join(ROOT, 'scripts/build-server.js'))) as { buildId: () => string; DIST: string };
const BIN = path.join(ROOT, 'bin/keel.js');

interface Started {
  proc: ChildProcess;
  url: URL;
  out: () => string;
  stop(): Promise<void>;
}

async function run(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const dir = tmpDir('keel-dist-');
  const proc = spawn(process.execPath, [BIN, ...args, '--port', '0', '--data-dir', dir, '--log-level', 'warn'], {
    env: { ...process.env, KEEL_TOKEN: '', KEEL_TERMINAL_SHELL: '/bin/sh', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    // A rebuild runs first: generous.
    const t = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 180_000);
    const on = (d: Buffer) => {
      out += d;
      const r = ready.exec(out);
      if (r) {
        clearTimeout(t);
        resolve(r);
      }
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return {
    proc,
    url: new URL(m[1]!),
    out: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

describe('npm start runs the built server', () => {
  const running: Started[] = [];
  after(async () => {
    for (const s of running) await s.stop();
  });

  it('npm start is bin/keel.js (after the web UI check)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.scripts.start, 'node scripts/ensure-web.js && node bin/keel.js');
    assert.equal(pkg.bin.keel, 'bin/keel.js');
  });

  it('runs dist/<current build>/cli.js, re-executed with the runtime flags; a terminal mirror and the document worker work from the build', async () => {
    const k = await run([], /Open:\s+(\S+)/);
    running.push(k);
    const argv = cmdline(k.proc.pid!);
    assert.ok(argv.includes(path.join(DIST, buildId(), 'cli.js')), `runs the current build: ${argv.join(' ')}`);
    assert.ok(argv.includes('--max-semi-space-size=1') && argv.includes('--optimize-for-size'), argv.join(' '));
    const environ = fs.readFileSync(`/proc/${k.proc.pid}/environ`, 'utf8');
    assert.match(environ, /GLIBC_TUNABLES=glibc\.malloc\.arena_max=2/);
    assert.ok(!fs.readFileSync(`/proc/${k.proc.pid}/maps`, 'utf8').includes(`${path.sep}src${path.sep}cli.ts`));

    const token = k.url.searchParams.get('token')!;
    const base = k.url.origin;
    const auth = { authorization: `Bearer ${token}`, origin: base };
    const t = await request(`${base}/api/terminals`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ cols: 80, rows: 24, command: 'echo from-the-build-$((6*7)); sleep 30' }),
    });
    assert.equal(t.status, 201, t.text);
    const { id } = JSON.parse(t.text);
    await new Promise((r) => setTimeout(r, 1000));
    // A viewer joining later gets the mirror's snapshot: the worker (mirror-worker.js) parsed the output.
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/terminals/${id}/ws`, { headers: auth });
    const snapshot = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no snapshot')), 20_000);
      ws.on('message', (d: Buffer) => {
        if (d[0] === 0x73 && d.toString('latin1').includes('from-the-build-42')) {
          clearTimeout(timer);
          resolve(d.toString('latin1'));
        }
      });
      ws.once('error', reject);
    });
    assert.match(snapshot, /from-the-build-42/);
    ws.close();

    // Documents: the manager (docs-manager.js) loads on first use and the document worker
    // (doc-worker.js) reads the stored state for an export.
    const d = await request(`${base}/api/docs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'from the build' }) });
    assert.equal(d.status, 201, d.text);
    const exported = await request(`${base}/api/docs/${JSON.parse(d.text).id}/export`, { headers: auth });
    assert.equal(exported.status, 200, exported.text);
    const docs = JSON.parse((await request(`${base}/debug/memory`, { headers: auth })).text).subsystems.docs;
    assert.deepEqual([docs.yjs_loaded, docs.worker_starts, docs.worker_restarts], [1, 1, 0], JSON.stringify(docs));
  });

  it('rebuilds a stale build before running it', async () => {
    // A new source file: what an edit (or a git checkout) leaves. (Touching a real file and setting
    // its mtime back is not exact: utimes takes seconds as a double, and the millisecond the build id
    // reads could come back one lower.)
    const probe = path.join(ROOT, 'src/zz-dist-test-probe.ts');
    const before = buildId();
    fs.writeFileSync(probe, 'export {};\n');
    const stale = buildId();
    try {
      assert.notEqual(stale, before);
      assert.ok(!fs.existsSync(path.join(DIST, stale)), 'no build for the changed sources yet');
      const k = await run([], /Open:\s+(\S+)/);
      running.push(k);
      assert.match(k.out(), /building the server/);
      assert.ok(cmdline(k.proc.pid!).includes(path.join(DIST, stale, 'cli.js')), cmdline(k.proc.pid!).join(' '));
      await k.stop();
    } finally {
      fs.rmSync(probe, { force: true });
      fs.rmSync(path.join(DIST, stale), { recursive: true, force: true });
    }
    assert.equal(buildId(), before);
  });

  it('the relay runs from the build, and a host connects to it with --relay', async () => {
    const relay = await run(['relay'], /Keel relay is running:\s+(\S+)/);
    running.push(relay);
    const host = await run(['--relay', relay.url.origin], /Open:\s+(\S+)/);
    running.push(host);
    const auth = { authorization: `Bearer ${host.url.searchParams.get('token')}` };
    let state = '';
    for (let i = 0; i < 200 && state !== 'registered'; i++) {
      if (i) await new Promise((r) => setTimeout(r, 50));
      state = JSON.parse((await request(`${host.url.origin}/api/relay`, { headers: auth })).text).state;
    }
    assert.equal(state, 'registered');
  });
});

/**
 * A real redis-server for the scale-out tests, on a free loopback port, with no persistence. When
 * the binary is missing the kit tries Debian's package once (what .ci/run does); the tests skip,
 * saying why, only when it truly cannot be installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'];

function findBinary(): string | undefined {
  return CANDIDATES.find((p) => fs.existsSync(p));
}

/** The redis-server binary, installing it if needed; a reason string when it cannot be had. */
export function redisServerBinary(): string | { missing: string } {
  const found = findBinary();
  if (found) return found;
  if (process.getuid?.() === 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 180_000 });
    spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    const now = findBinary();
    if (now) return now;
  }
  return { missing: 'redis-server is not installed and `apt-get install redis-server` did not provide it (not root, or no package source): the Redis scale-out tests are skipped. .ci/run installs it.' };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RedisProc {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startRedis(binary: string): Promise<RedisProc> {
  const port = await freePort();
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (exit ${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts test/db-locker.ts on a database file; resolves once it holds the lock. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface DbLock {
  child: ChildProcess;
  /** Releases the lock and waits for the process to exit. */
  release(): Promise<void>;
}

export function lockDatabase(file: string, timeoutMs = 15_000): Promise<DbLock> {
  const child = spawn(process.execPath, [new URL('./db-locker.ts', import.meta.url).pathname, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the locker did not take the lock in time'));
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      if (!d.toString().includes('locked')) return;
      clearTimeout(timer);
      resolve({
        child,
        async release() {
          if (child.exitCode === null) child.stdin!.end('release\n');
          const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(t);
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the locker exited with ${code} before taking the lock`));
    });
  });
}

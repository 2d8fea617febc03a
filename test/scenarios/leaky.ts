/**
 * Leak scenario that leaks on purpose, to prove the kit catches each kind of leak.
 * params.leak: 'none' | 'heap' (~4 KiB retained per cycle) | 'fd' (a file opened per cycle) |
 * 'handle' (a ref'd timer per cycle, so the child also cannot exit) | 'child' (a `sleep` per cycle) | 'extra'
 * (a measure() number that grows) | 'throw' (cycle 50 throws).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

type Leak = 'none' | 'heap' | 'fd' | 'handle' | 'child' | 'extra' | 'throw';
let leak: Leak = 'none';
const retained: unknown[] = [];
const fds: number[] = [];
const timers: NodeJS.Timeout[] = [];
const kids: ChildProcess[] = [];

export function setup(params: { leak: Leak }): void {
  leak = params.leak;
}

export async function cycle(i: number): Promise<void> {
  const warm = i < 20; // nothing leaks during warm-up, so the baseline is clean
  if (warm) return;
  if (leak === 'throw' && i === 50) throw new Error('cycle 50 broke on purpose');
  if (leak === 'heap' || leak === 'extra') retained.push(new Array(512).fill(i)); // ~4 KiB of heap (a string would be a shared rope)
  if (leak === 'fd') fds.push(fs.openSync('/dev/null', 'r'));
  if (leak === 'handle') timers.push(setInterval(() => {}, 60_000));
  if (leak === 'child' && kids.length < 3) kids.push(spawn('sleep', ['60'], { stdio: 'ignore' }));
}

export function measure(): Record<string, number> {
  return { retained: leak === 'extra' ? retained.length : 0 };
}

export function teardown(): void {
  // Deliberately leave the handle leak in place: the kit must notice the child cannot exit.
  for (const fd of fds.splice(0)) fs.closeSync(fd);
  for (const k of kids.splice(0)) k.kill('SIGKILL');
}

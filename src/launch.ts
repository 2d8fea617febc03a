/**
 * The process settings Keel starts with. V8 sizes its heap when the isolate is created, so flags
 * such as --max-semi-space-size only work on the command line; `keel` (and `npm start`) parse the
 * options first and then replace their own process image (execve: same pid, same stdio, nothing
 * left behind) with `node <flags> <this entry> <same arguments>` when the flags the options ask for
 * are not in force yet. Embedders and tests that build Keel in their own process keep
 * `tuneRuntime` (app.ts), which sets what can still be set at run time.
 */
import type { KeelOptions } from './config/options.ts';

/** Set (to the pid) in the environment of the re-executed process, so it does not exec again. */
const MARK = 'KEEL_RUNTIME_PID';

export type RuntimeOptions = Pick<KeelOptions, 'v8OptimizeForSize' | 'v8MaxSemiSpaceMb'>;

/** The node flags the options ask for. */
export function runtimeFlags(o: RuntimeOptions): string[] {
  const flags: string[] = [];
  if (o.v8OptimizeForSize) flags.push('--optimize-for-size');
  if (o.v8MaxSemiSpaceMb > 0) flags.push(`--max-semi-space-size=${o.v8MaxSemiSpaceMb}`);
  return flags;
}

/**
 * Re-executes this process with the runtime flags, unless they are in force already, this process
 * was re-executed (the mark holds our pid), or execve is unavailable (Node < 22.15, Windows): then
 * it returns and the caller goes on with what it has (tuneRuntime's run-time flags).
 */
export function relaunchWithRuntimeFlags(o: RuntimeOptions, entry: string, args: string[]): void {
  const mark = process.env[MARK];
  // A shell started in a Keel terminal that runs `keel` again must not inherit the mark.
  delete process.env[MARK];
  if (mark === String(process.pid)) return;
  const flags = runtimeFlags(o).filter((f) => !process.execArgv.includes(f));
  if (!flags.length || typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, entry, ...args], { ...process.env, [MARK]: String(process.pid) });
}

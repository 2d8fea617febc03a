/**
 * The process settings Keel starts with. V8 sizes its heap when the isolate is created and glibc
 * reads GLIBC_TUNABLES when the process starts, so both only work from the command line and the
 * environment: `keel` (and `npm start`) parse the options first and then replace their own process
 * image (execve: same pid, same stdio, nothing left behind) with `node <flags> <this entry> <same
 * arguments>` when what the options ask for is not in force yet. Embedders and tests that build
 * Keel in their own process keep `tuneRuntime` (app.ts), which sets what can still be set at run
 * time.
 */
import type { KeelOptions } from './config/options.ts';

/** Set (to the pid) in the environment of the re-executed process, so it does not exec again. */
const MARK = 'KEEL_RUNTIME_PID';
/** Set when GLIBC_TUNABLES is Keel's own, so it is not passed on to the shells of terminals. */
const OWN_TUNABLES = 'KEEL_GLIBC_TUNABLES';

export type RuntimeOptions = Pick<KeelOptions, 'v8OptimizeForSize' | 'v8MaxSemiSpaceMb' | 'mallocTunables'>;

/** The node flags the options ask for. */
export function runtimeFlags(o: RuntimeOptions): string[] {
  const flags: string[] = [];
  if (o.v8OptimizeForSize) flags.push('--optimize-for-size');
  if (o.v8MaxSemiSpaceMb > 0) flags.push(`--max-semi-space-size=${o.v8MaxSemiSpaceMb}`);
  return flags;
}

/** The environment additions the options ask for (none when the user set GLIBC_TUNABLES). */
export function runtimeEnv(o: RuntimeOptions, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!o.mallocTunables || env.GLIBC_TUNABLES !== undefined) return {};
  return { GLIBC_TUNABLES: o.mallocTunables, [OWN_TUNABLES]: '1' };
}

/**
 * Re-executes this process with the runtime flags and environment, unless they are in force
 * already, this process was re-executed (the mark holds our pid), or execve is unavailable (Node
 * < 22.15, Windows): then it returns and the caller goes on with what it has.
 */
export function relaunchWithRuntimeFlags(o: RuntimeOptions, entry: string, args: string[]): void {
  const mark = process.env[MARK];
  // A shell started in a Keel terminal that runs `keel` again must inherit neither the mark nor
  // Keel's malloc settings (glibc has read them already; the shells' programs should not get them).
  delete process.env[MARK];
  if (process.env[OWN_TUNABLES]) {
    delete process.env.GLIBC_TUNABLES;
    delete process.env[OWN_TUNABLES];
  }
  if (mark === String(process.pid)) return;
  const flags = runtimeFlags(o).filter((f) => !process.execArgv.includes(f));
  const env = runtimeEnv(o);
  if ((!flags.length && !Object.keys(env).length) || typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, entry, ...args], { ...process.env, ...env, [MARK]: String(process.pid) });
}

#!/usr/bin/env node
/**
 * The `keel` command. `keel` serves; `keel --help` lists every option with its default.
 * Invalid options print what is wrong and which values are allowed, and exit with code 2.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Keel } from './app.ts';
import { ConfigError, loadOptions } from './config/load.ts';
import { envName, flagName, optionSpecs } from './config/options.ts';
import { formatValue, type Spec } from './config/spec.ts';
import { relaunchWithRuntimeFlags } from './launch.ts';
import { budgetReport } from './observe/memory-report.ts';

export const EXIT_USAGE = 2;
/** Shut down with writes the database never took (listed in the log): they are lost. */
export const EXIT_UNSAVED = 3;

function buildProgram(): Command {
  const program = new Command('keel')
    .description("Keel: your machine's terminals, an AI agent that works in them, chat and shared documents, in any browser.")
    .helpOption('-h, --help', 'show this help')
    .version(process.env.npm_package_version ?? '0.1.0', '-v, --version')
    .addOption(new Option('--config <file>', 'JSON config file (keys are option names; env KEEL_CONFIG)'))
    .showHelpAfterError('(run keel --help for every option)')
    .exitOverride();
  for (const [key, spec] of Object.entries(optionSpecs) as [string, Spec<unknown>][]) {
    const desc = `${spec.help} (default: ${formatValue(spec.default, spec.unit)}; env ${envName(key)})`;
    program.addOption(new Option(`${flagName(key)} <value>`, desc));
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // Other commands: `keel relay` (docs/relay.md) and `keel pair`; `keel` alone serves.
  if (argv[2] === 'relay') return (await import('./relay/cli.ts')).relayMain(argv.slice(3));
  if (argv[2] === 'pair') return (await import('./relay-host/pair-cli.ts')).pairMain(argv.slice(3));
  const program = buildProgram();
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT_USAGE);
    }
    throw err;
  }
  const raw = program.opts() as Record<string, string | undefined>;
  const { config, ...flags } = raw;
  let options;
  try {
    options = loadOptions({ flags, env: process.env, configFile: config ?? process.env.KEEL_CONFIG });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`keel: ${p}\n`);
      process.stderr.write('Run keel --help for every option and its default.\n');
      process.exit(EXIT_USAGE);
    }
    throw err;
  }

  // Before the server is loaded: the re-executed process is the one that builds it.
  relaunchWithRuntimeFlags(options, process.argv[1]!, argv.slice(2));
  const { createKeel, tuneRuntime } = await import('./app.ts');
  tuneRuntime(options);
  const keel = await createKeel(options);
  try {
    await keel.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') process.stderr.write(`keel: port ${options.port} on ${options.host} is in use; pick another with --port.\n`);
    else process.stderr.write(`keel: cannot listen on ${options.host}:${options.port}: ${e.message}\n`);
    await keel.close('listen failed');
    process.exit(1);
  }

  const budget = budgetReport(keel.ctx);
  const parts = Object.entries(budget.by_subsystem)
    .map(([k, v]) => `${k} ${v} MB`)
    .join(', ');
  process.stdout.write(
    [
      '',
      `  Keel is running. Open:  ${keel.startUrl}`,
      '',
      `  Data directory:         ${options.dataDir}`,
      `  Worst-case memory:      ${budget.worst_case_mb} MB (${parts})`,
      options.host !== '127.0.0.1' && options.host !== 'localhost' && options.host !== '::1'
        ? `  WARNING: bound to ${options.host}: anyone who can reach this address and has the token gets a shell.`
        : '',
      '',
    ]
      .filter((l, i, a) => l !== '' || a[i - 1] !== '')
      .join('\n') + '\n',
  );

  installSignalHandlers(keel, options.shutdownTimeoutMs);
}

function installSignalHandlers(keel: Keel, timeoutMs: number): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      keel.ctx.log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    keel.ctx.log.info({ signal }, 'shutting down');
    const started = Date.now();
    // The deadline must fire even if something holds the loop; unref so a clean close exits sooner.
    setTimeout(() => {
      keel.ctx.log.error({ timeoutMs }, 'shutdown deadline passed: exiting');
      process.exit(1);
    }, timeoutMs).unref();
    // Writes the database cannot take are retried until shortly before the deadline (app.ts close).
    keel.close(signal, { deadline: started + timeoutMs - Math.min(1_000, timeoutMs / 5) }).then(
      () => {
        if (keel.unsaved.length) {
          process.stderr.write(`keel: ${keel.unsaved.length} write(s) could not be stored before shutdown and are lost:\n${keel.unsaved.map((l) => `  - ${l}\n`).join('')}`);
          process.exit(EXIT_UNSAVED);
        }
        process.exit(0);
      },
      (err) => {
        keel.ctx.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

main(process.argv).catch((err) => {
  process.stderr.write(`keel: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

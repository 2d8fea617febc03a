/**
 * Option parsing for Keel's other commands (`keel relay`, `keel pair`): the same option list,
 * flags, `KEEL_*` variables and config file as `keel` itself, restricted to the groups that matter.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadOptions } from '../config/load.ts';
import { envName, flagName, optionSpecs, type KeelOptions } from '../config/options.ts';
import { formatValue, type Spec } from '../config/spec.ts';

export const EXIT_USAGE = 2;

export function parseCommand(o: { name: string; description: string; groups: string[]; argv: string[]; extra?: (c: Command) => void }): { options: KeelOptions; extra: Record<string, unknown>; args: string[] } {
  const program = new Command(o.name)
    .description(o.description)
    .helpOption('-h, --help', 'show this help')
    .addOption(new Option('--config <file>', 'JSON config file (keys are option names; env KEEL_CONFIG)'))
    .showHelpAfterError(`(run ${o.name} --help for every option)`)
    .allowExcessArguments(true)
    .exitOverride();
  const keys: string[] = [];
  for (const [key, spec] of Object.entries(optionSpecs) as [string, Spec<unknown>][]) {
    if (!o.groups.includes(spec.group)) continue;
    keys.push(key);
    program.addOption(new Option(`${flagName(key)} <value>`, `${spec.help} (default: ${formatValue(spec.default, spec.unit)}; env ${envName(key)})`));
  }
  o.extra?.(program);
  try {
    program.parse(o.argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.code === 'commander.helpDisplayed' ? 0 : EXIT_USAGE);
    throw err;
  }
  const raw = program.opts() as Record<string, unknown>;
  const flags: Record<string, string | undefined> = {};
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'config') continue;
    if (keys.includes(k)) flags[k] = v as string | undefined;
    else extra[k] = v;
  }
  try {
    return { options: loadOptions({ flags, env: process.env, configFile: (raw.config as string | undefined) ?? process.env.KEEL_CONFIG }), extra, args: program.args };
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`keel: ${p}\n`);
      process.stderr.write(`Run ${o.name} --help for every option and its default.\n`);
      process.exit(EXIT_USAGE);
    }
    throw err;
  }
}

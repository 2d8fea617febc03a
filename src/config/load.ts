/**
 * Resolves options from defaults < config file < `KEEL_*` environment < command-line flags,
 * validating every value against its spec. All problems are collected and reported together.
 */
import fs from 'node:fs';
import { defaultOptions, envName, flagName, optionSpecs, type KeelOptions, type OptionKey } from './options.ts';
import { formatValue, type Spec } from './spec.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface ConfigSources {
  /** Raw flag values by option key (strings as typed on the command line). */
  flags?: Partial<Record<string, string>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file (keys are option names, camelCase or kebab-case). */
  configFile?: string;
  /** Already-typed overrides (tests, embedding). */
  overrides?: Partial<KeelOptions>;
}

const keys = Object.keys(optionSpecs) as OptionKey[];

function toKey(name: string): OptionKey | undefined {
  const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return (keys as string[]).includes(camel) ? (camel as OptionKey) : undefined;
}

function closest(name: string): string | undefined {
  // Levenshtein distance, small inputs only: for "did you mean" hints.
  const d = (a: string, b: string) => {
    const m = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
    for (let j = 1; j <= b.length; j++) m[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        m[i]![j] = Math.min(m[i - 1]![j]! + 1, m[i]![j - 1]! + 1, m[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return m[a.length]![b.length]!;
  };
  let best: string | undefined;
  let bestD = 4;
  for (const k of keys) {
    const dist = d(name.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best;
}

function check(key: OptionKey, value: unknown, where: string, problems: string[]): unknown {
  const spec = optionSpecs[key] as Spec<unknown>;
  const r = spec.schema.safeParse(value);
  if (r.success) return r.data;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  problems.push(`${where}: ${shown} is not valid — expected ${spec.allowed} (default ${formatValue(spec.default, spec.unit)}).`);
  return undefined;
}

function fromString(key: OptionKey, raw: string, where: string, problems: string[]): unknown {
  const spec = optionSpecs[key] as Spec<unknown>;
  let parsed: unknown;
  try {
    parsed = spec.parse(raw);
  } catch (err) {
    problems.push(`${where}: ${JSON.stringify(raw)} is not valid (${(err as Error).message}) — expected ${spec.allowed}.`);
    return undefined;
  }
  return check(key, parsed, where, problems);
}

/** Pairs of options where the first must be below the second. */
const ORDERED: [OptionKey & keyof NumericOptions, OptionKey & keyof NumericOptions][] = [
  ['memoryWarnMb', 'memoryCriticalMb'],
  ['terminalLowWatermarkBytes', 'terminalHighWatermarkBytes'],
];
type NumericOptions = { [K in keyof KeelOptions as KeelOptions[K] extends number ? K : never]: number };

export function loadOptions(src: ConfigSources = {}): KeelOptions {
  const problems: string[] = [];
  const opts = defaultOptions() as Record<OptionKey, unknown>;

  if (src.configFile) {
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(src.configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError([`config file ${src.configFile}: cannot be read as JSON (${(err as Error).message}).`]);
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) {
      throw new ConfigError([`config file ${src.configFile}: must be a JSON object of option names to values.`]);
    }
    for (const [name, value] of Object.entries(data)) {
      const key = toKey(name);
      if (!key) {
        const hint = closest(name);
        problems.push(`config file ${src.configFile}: unknown option "${name}"${hint ? ` — did you mean "${hint}"?` : ''}`);
        continue;
      }
      const where = `config file ${src.configFile}, "${name}"`;
      const v = typeof value === 'string' && typeof (optionSpecs[key] as Spec<unknown>).default !== 'string' ? fromString(key, value, where, problems) : check(key, value, where, problems);
      if (v !== undefined) opts[key] = v;
    }
  }

  const env = src.env ?? {};
  for (const key of keys) {
    const raw = env[envName(key)];
    if (raw === undefined || raw === '') continue;
    const v = fromString(key, raw, `environment ${envName(key)}`, problems);
    if (v !== undefined) opts[key] = v;
  }

  for (const [name, raw] of Object.entries(src.flags ?? {})) {
    if (raw === undefined) continue;
    const key = toKey(name);
    if (!key) {
      problems.push(`unknown option ${flagName(name)}`);
      continue;
    }
    const v = fromString(key, raw, `option ${flagName(key)}`, problems);
    if (v !== undefined) opts[key] = v;
  }

  for (const [k, v] of Object.entries(src.overrides ?? {})) {
    const key = k as OptionKey;
    const checked = check(key, v, `override ${key}`, problems);
    if (checked !== undefined) opts[key] = checked;
  }

  const o = opts as KeelOptions;
  for (const [lower, higher] of ORDERED) {
    if (o[higher] <= o[lower]) problems.push(`option ${flagName(higher)} (${o[higher]}) must be greater than ${flagName(lower)} (${o[lower]}).`);
  }
  if (problems.length) throw new ConfigError(problems);
  return o;
}

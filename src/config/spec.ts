/**
 * How one option is described: its schema (zod), default, help, and what happens at its limit.
 * `options.ts` lists Keel's options with these builders; flags, `KEEL_*` variables, the config
 * file, `keel --help` and the README table are all generated from that one list.
 */
import { z } from 'zod';

export type Unit = 'bytes' | 'ms' | 'MB' | 'count' | 'lines';

export interface Spec<T> {
  schema: z.ZodType<T>;
  default: T;
  /** What the option does. */
  help: string;
  /** What happens when the limit it sets is reached (limits only). */
  atLimit?: string;
  group: string;
  unit?: Unit;
  /** Human description of the allowed values, for error messages. */
  allowed: string;
  /** Parses a string from a flag or an environment variable. Throws with a message on bad input. */
  parse(raw: string): unknown;
}

const UNIT_FACTORS: Record<'bytes' | 'ms', Record<string, number>> = {
  bytes: { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 },
  ms: { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 },
};

/** Parses "1_000", "256KiB", "30s", "10m" into a number of base units; rejects anything else. */
export function parseNumber(raw: string, unit?: Unit): number {
  const m = /^\s*(-?[\d_]+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
  if (!m) throw new Error('not a number');
  const n = Number(m[1]!.replaceAll('_', ''));
  const suffix = m[2]!.toLowerCase();
  const factors = unit === 'bytes' || unit === 'ms' ? UNIT_FACTORS[unit] : { '': 1 };
  const f = factors[suffix];
  if (f === undefined) throw new Error(`unknown unit "${m[2]}"`);
  return Math.round(n * f);
}

export function formatValue(v: unknown, unit?: Unit): string {
  if (Array.isArray(v)) return v.length ? v.join(',') : '(none)';
  if (typeof v === 'number') {
    if (unit === 'bytes') {
      if (v >= 1024 ** 2 && v % 1024 ** 2 === 0) return `${v / 1024 ** 2}MiB`;
      if (v >= 1024 && v % 1024 === 0) return `${v / 1024}KiB`;
      return `${v}B`;
    }
    if (unit === 'ms') {
      if (v === 0) return '0';
      if (v >= 3_600_000 && v % 3_600_000 === 0) return `${v / 3_600_000}h`;
      if (v >= 60_000 && v % 60_000 === 0) return `${v / 60_000}m`;
      if (v >= 1000 && v % 1000 === 0) return `${v / 1000}s`;
      return `${v}ms`;
    }
    return String(v);
  }
  if (v === '') return '(none)';
  return String(v);
}

interface Common {
  help: string;
  atLimit?: string;
  group: string;
}

export function int<const D extends number>(o: Common & { default: D; min: number; max: number; unit?: Unit }): Spec<number> {
  const unitHint = o.unit === 'bytes' ? ' (bytes; suffixes KiB, MiB, GiB)' : o.unit === 'ms' ? ' (milliseconds; suffixes s, m, h)' : '';
  return {
    schema: z.int().min(o.min).max(o.max),
    default: o.default,
    help: o.help,
    atLimit: o.atLimit,
    group: o.group,
    unit: o.unit ?? 'count',
    allowed: `an integer from ${formatValue(o.min, o.unit)} to ${formatValue(o.max, o.unit)}${unitHint}`,
    parse: (raw) => parseNumber(raw, o.unit),
  };
}

export function str(o: Common & { default: string; pattern?: RegExp; allowed?: string; maxLength?: number }): Spec<string> {
  let schema = z.string().max(o.maxLength ?? 4096);
  if (o.pattern) schema = schema.regex(o.pattern);
  return { schema, default: o.default, help: o.help, group: o.group, allowed: o.allowed ?? 'a string', parse: (raw) => raw };
}

export function oneOf<const V extends readonly [string, ...string[]]>(o: Common & { default: V[number]; values: V }): Spec<V[number]> {
  return {
    schema: z.enum(o.values) as unknown as z.ZodType<V[number]>,
    default: o.default,
    help: o.help,
    group: o.group,
    allowed: `one of: ${o.values.join(', ')}`,
    parse: (raw) => raw,
  };
}

export function bool(o: Common & { default: boolean }): Spec<boolean> {
  return {
    schema: z.boolean(),
    default: o.default,
    help: o.help,
    group: o.group,
    allowed: 'true or false',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new Error('not a boolean');
    },
  };
}

export function list(o: Common & { default: string[]; maxItems?: number }): Spec<string[]> {
  return {
    schema: z.array(z.string().min(1).max(512)).max(o.maxItems ?? 64),
    default: o.default,
    help: o.help,
    group: o.group,
    allowed: `a comma-separated list (at most ${o.maxItems ?? 64} items)`,
    parse: (raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  };
}

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadOptions } from './load.ts';
import { defaultOptions, envName, flagName, optionSpecs } from './options.ts';
import type { Spec } from './spec.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
function configFile(data: unknown): string {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, typeof data === 'string' ? data : JSON.stringify(data));
  return f;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

test('every option has help, a group, allowed text, and a default that passes its own schema', () => {
  for (const [key, spec] of Object.entries(optionSpecs) as [string, Spec<unknown>][]) {
    const r = spec.schema.safeParse(spec.default);
    assert.ok(r.success, `${key}: default ${JSON.stringify(spec.default)} fails its schema`);
    assert.ok(spec.help.length > 10, `${key} has help`);
    assert.ok(spec.group && spec.allowed, `${key} has group and allowed`);
  }
  assert.deepEqual(loadOptions(), defaultOptions(), 'defaults load without problems');
});

test('numeric defaults survive a round trip through their string form (as --help shows them)', async () => {
  const { formatValue } = await import('./spec.ts');
  for (const [key, spec] of Object.entries(optionSpecs) as [string, Spec<unknown>][]) {
    if (typeof spec.default !== 'number') continue;
    assert.equal(spec.parse(formatValue(spec.default, spec.unit)), spec.default, key);
  }
});

test('every limit (an option with atLimit) says what happens at it', () => {
  const limits = Object.entries(optionSpecs).filter(([, s]) => (s as Spec<unknown>).atLimit);
  assert.ok(limits.length >= 5);
  for (const [key, s] of limits) assert.ok((s as Spec<unknown>).atLimit!.length > 10, key);
});

test('flag and env names', () => {
  assert.equal(flagName('maxBodyBytes'), '--max-body-bytes');
  assert.equal(envName('maxBodyBytes'), 'KEEL_MAX_BODY_BYTES');
});

test('precedence: defaults < config file < env < flags < overrides', () => {
  const file = configFile({ maxBodyBytes: 2048, 'max-live-viewers': 3, logLevel: 'warn', healthSampleMs: '30s' });
  const fromFile = loadOptions({ configFile: file });
  assert.equal(fromFile.maxBodyBytes, 2048);
  assert.equal(fromFile.maxLiveViewers, 3, 'kebab-case keys work in the file');
  assert.equal(fromFile.healthSampleMs, 30_000, 'strings with units work in the file');
  assert.equal(fromFile.maxHttpConnections, defaultOptions().maxHttpConnections);

  const env = { KEEL_MAX_BODY_BYTES: '4KiB', KEEL_LOG_LEVEL: 'error' };
  const fromEnv = loadOptions({ configFile: file, env });
  assert.equal(fromEnv.maxBodyBytes, 4096);
  assert.equal(fromEnv.logLevel, 'error');
  assert.equal(fromEnv.maxLiveViewers, 3);

  const fromFlags = loadOptions({ configFile: file, env, flags: { maxBodyBytes: '8KiB' } });
  assert.equal(fromFlags.maxBodyBytes, 8192);
  assert.equal(fromFlags.logLevel, 'error');

  const over = loadOptions({ configFile: file, env, flags: { maxBodyBytes: '8KiB' }, overrides: { maxBodyBytes: 16_384 } });
  assert.equal(over.maxBodyBytes, 16_384);
});

test('empty environment values are ignored; lists split on commas', () => {
  const o = loadOptions({ env: { KEEL_PORT: '', KEEL_ALLOWED_HOSTS: 'a.example, b.example' } });
  assert.equal(o.port, defaultOptions().port);
  assert.deepEqual(o.allowedHosts, ['a.example', 'b.example']);
});

test('an unknown config key is an error with "did you mean"', () => {
  const p = problems(() => loadOptions({ configFile: configFile({ maxBodyByte: 1, totallyUnrelatedThing: 2 }) }));
  assert.ok(p.some((m) => /unknown option "maxBodyByte" — did you mean "maxBodyBytes"\?/.test(m)), p.join('\n'));
  assert.ok(p.some((m) => /unknown option "totallyUnrelatedThing"$/.test(m)), 'no hint when nothing is close');
});

test('invalid values are collected together, each naming where it came from and what is allowed', () => {
  const p = problems(() => loadOptions({ env: { KEEL_PORT: '99999', KEEL_LOG_LEVEL: 'loud' }, flags: { maxBodyBytes: '5 parsecs' } }));
  assert.equal(p.length, 3, p.join('\n'));
  assert.match(p[0]!, /environment KEEL_PORT: "?99999"? is not valid — expected an integer from 0 to 65535/);
  assert.match(p[1]!, /environment KEEL_LOG_LEVEL: "loud" is not valid — expected one of: fatal, error/);
  assert.match(p[2]!, /option --max-body-bytes: "5 parsecs" is not valid \(unknown unit "parsecs"\)/);
});

test('a wrong type in the config file is refused', () => {
  const p = problems(() => loadOptions({ configFile: configFile({ maxLiveViewers: true }) }));
  assert.match(p[0]!, /"maxLiveViewers": true is not valid/);
});

test('an unreadable or non-object config file is one clear error', () => {
  assert.match(problems(() => loadOptions({ configFile: path.join(dir, 'missing.json') }))[0]!, /cannot be read as JSON/);
  assert.match(problems(() => loadOptions({ configFile: configFile('{nope') }))[0]!, /cannot be read as JSON/);
  assert.match(problems(() => loadOptions({ configFile: configFile([1, 2]) }))[0]!, /must be a JSON object/);
});

test('the critical memory threshold must be above the warning one', () => {
  const p = problems(() => loadOptions({ overrides: { memoryWarnMb: 500, memoryCriticalMb: 500 } }));
  assert.match(p[0]!, /--memory-critical-mb \(500\) must be greater than --memory-warn-mb \(500\)/);
  assert.equal(loadOptions({ overrides: { memoryWarnMb: 500, memoryCriticalMb: 501 } }).memoryCriticalMb, 501);
});

test('the low terminal watermark must be below the high one', () => {
  const p = problems(() => loadOptions({ overrides: { terminalLowWatermarkBytes: 65536, terminalHighWatermarkBytes: 65536 } }));
  assert.match(p[0]!, /--terminal-high-watermark-bytes \(65536\) must be greater than --terminal-low-watermark-bytes \(65536\)/);
});

test('an unknown flag is reported', () => {
  assert.match(problems(() => loadOptions({ flags: { noSuchOption: '1' } }))[0]!, /unknown option --no-such-option/);
});

test('the token must be empty or at least 16 URL-safe characters', () => {
  assert.equal(loadOptions({ overrides: { token: 'a'.repeat(16) } }).token, 'a'.repeat(16));
  assert.ok(problems(() => loadOptions({ overrides: { token: 'short' } })).length === 1);
  assert.ok(problems(() => loadOptions({ overrides: { token: 'x'.repeat(15) + '!' } })).length === 1);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bool, formatValue, int, list, oneOf, parseNumber, str } from './spec.ts';

test('parseNumber reads plain numbers, numeric separators and units', () => {
  assert.equal(parseNumber('42'), 42);
  assert.equal(parseNumber('60_000', 'ms'), 60_000);
  assert.equal(parseNumber('256KiB', 'bytes'), 256 * 1024);
  assert.equal(parseNumber('256 kb', 'bytes'), 256 * 1024);
  assert.equal(parseNumber('1.5MiB', 'bytes'), 1.5 * 1024 * 1024);
  assert.equal(parseNumber('2G', 'bytes'), 2 * 1024 ** 3);
  assert.equal(parseNumber('30s', 'ms'), 30_000);
  assert.equal(parseNumber('10m', 'ms'), 600_000);
  assert.equal(parseNumber('2h', 'ms'), 7_200_000);
  assert.equal(parseNumber('1d', 'ms'), 86_400_000);
  assert.equal(parseNumber(' 7 '), 7);
});

test('parseNumber rejects garbage and units that do not belong', () => {
  assert.throws(() => parseNumber('lots'), /not a number/);
  assert.throws(() => parseNumber(''), /not a number/);
  assert.throws(() => parseNumber('5s', 'bytes'), /unknown unit "s"/);
  assert.throws(() => parseNumber('5KiB', 'ms'), /unknown unit/);
  assert.throws(() => parseNumber('5KiB'), /unknown unit/);
  assert.throws(() => parseNumber('1e3'), /unknown unit|not a number/);
});

test('formatValue prints units the way they are typed', () => {
  assert.equal(formatValue(256 * 1024, 'bytes'), '256KiB');
  assert.equal(formatValue(1024 * 1024, 'bytes'), '1MiB');
  assert.equal(formatValue(1000, 'bytes'), '1000B');
  assert.equal(formatValue(600_000, 'ms'), '10m');
  assert.equal(formatValue(3_600_000, 'ms'), '1h');
  assert.equal(formatValue(1500, 'ms'), '1500ms');
  assert.equal(formatValue(0, 'ms'), '0');
  assert.equal(formatValue([], undefined), '(none)');
  assert.equal(formatValue(['a', 'b']), 'a,b');
  assert.equal(formatValue(''), '(none)');
  assert.equal(formatValue(5, 'count'), '5');
});

test('builders: schema, parse and allowed text agree', () => {
  const i = int({ group: 'g', default: 5, min: 1, max: 10, help: 'h', unit: 'ms' });
  assert.equal(i.schema.safeParse(5).success, true);
  assert.equal(i.schema.safeParse(11).success, false);
  assert.equal(i.schema.safeParse(1.5).success, false);
  assert.equal(i.parse('2ms'), 2);
  assert.match(i.allowed, /an integer from 1ms to 10ms/);
  const e = oneOf({ group: 'g', default: 'a', values: ['a', 'b'] as const, help: 'h' });
  assert.equal(e.schema.safeParse('c').success, false);
  assert.equal(e.allowed, 'one of: a, b');
  const b = bool({ group: 'g', default: false, help: 'h' });
  assert.equal(b.parse('yes'), true);
  assert.equal(b.parse('OFF'), false);
  assert.throws(() => b.parse('maybe'), /not a boolean/);
  const l = list({ group: 'g', default: [], help: 'h', maxItems: 2 });
  assert.deepEqual(l.parse(' a, ,b '), ['a', 'b']);
  assert.equal(l.schema.safeParse(['a', 'b', 'c']).success, false);
  const s = str({ group: 'g', default: '', help: 'h', pattern: /^x+$/, maxLength: 3 });
  assert.equal(s.schema.safeParse('xx').success, true);
  assert.equal(s.schema.safeParse('xxxx').success, false);
  assert.equal(s.schema.safeParse('y').success, false);
});

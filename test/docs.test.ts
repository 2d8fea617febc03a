// The README's configuration table is generated from the options schema; this fails when they drift.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { flagName, optionSpecs } from '../src/config/options.ts';
import { readmeWithTable } from '../scripts/options-table.ts';

const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('README options table matches the options schema (run: node scripts/options-table.ts --write)', () => {
  assert.equal(readme, readmeWithTable(readme));
});

test('every option appears in the README', () => {
  for (const key of Object.keys(optionSpecs)) assert.ok(readme.includes(`\`${flagName(key)}\``), `${flagName(key)} missing from README`);
});

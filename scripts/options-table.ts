/**
 * Prints the README's configuration table from `optionSpecs`, or with `--write` replaces the
 * block between `<!-- options:start -->` and `<!-- options:end -->` in README.md.
 * test/docs.test.ts fails when the README is out of date.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envName, flagName, optionSpecs } from '../src/config/options.ts';
import { formatValue, type Spec } from '../src/config/spec.ts';

export const START = '<!-- options:start -->';
export const END = '<!-- options:end -->';

export function optionsTable(): string {
  const groups = new Map<string, string[]>();
  for (const [key, s] of Object.entries(optionSpecs) as [string, Spec<unknown>][]) {
    const def = key === 'dataDir' ? '`$XDG_DATA_HOME/keel` (`~/.local/share/keel`)' : `\`${formatValue(s.default, s.unit)}\``;
    const cell = (t: string) => t.replaceAll('|', '\\|');
    const line = `| \`${flagName(key)}\`<br>\`${envName(key)}\` | ${def} | ${cell(s.help)} | ${cell(s.atLimit ?? '')} |`;
    if (!groups.has(s.group)) groups.set(s.group, []);
    groups.get(s.group)!.push(line);
  }
  const out: string[] = [];
  for (const [g, lines] of groups) {
    out.push(`**${g}**`, '', '| option / env | default | what it does | at the limit |', '|---|---|---|---|', ...lines, '');
  }
  return out.join('\n');
}

export function readmeWithTable(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a === -1 || b === -1) throw new Error(`README.md lacks the ${START} … ${END} markers`);
  return readme.slice(0, a + START.length) + '\n' + optionsTable() + readme.slice(b);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../README.md');
  if (process.argv.includes('--write')) {
    fs.writeFileSync(file, readmeWithTable(fs.readFileSync(file, 'utf8')));
    console.log('README.md options table updated');
  } else {
    console.log(optionsTable());
  }
}

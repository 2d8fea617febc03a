/**
 * `npm run bench [-- name ...]`: runs every `bench/*.bench.ts` (or the named ones) one after the
 * other, prints a table per benchmark, and writes bench/results/<name>.json plus latest.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, type BenchResult } from './lib.ts';

const dir = path.join(ROOT, 'bench');
const wanted = process.argv.slice(2);
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => !wanted.length || wanted.some((w) => f.startsWith(w)))
  .sort();
if (!files.length) {
  console.error(`no benchmark matches ${wanted.join(' ')}; have: ${fs.readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).join(', ')}`);
  process.exit(2);
}

const outDir = path.join(dir, 'results');
fs.mkdirSync(outDir, { recursive: true });
const all: BenchResult[] = [];
let failed = 0;
for (const f of files) {
  const mod = (await import(path.join(dir, f))) as { default: () => Promise<BenchResult> };
  process.stdout.write(`\n▶ ${f}\n`);
  const t0 = performance.now();
  const res = await mod.default();
  const secs = (performance.now() - t0) / 1000;
  all.push(res);
  const w = Math.max(...res.rows.map((r) => r.metric.length), 6);
  console.log(`${'metric'.padEnd(w)}  ${'value'.padStart(12)}  ${'unit'.padEnd(8)}  target`);
  for (const r of res.rows) {
    const mark = r.ok === undefined ? '' : r.ok ? '  ok' : '  MISSED';
    if (r.ok === false) failed++;
    console.log(`${r.metric.padEnd(w)}  ${String(r.value).padStart(12)}  ${r.unit.padEnd(8)}  ${r.target ?? ''}${mark}`);
  }
  for (const n of res.notes ?? []) console.log(`  note: ${n}`);
  console.log(`  (${secs.toFixed(1)} s)`);
  fs.writeFileSync(path.join(outDir, `${res.name}.json`), JSON.stringify({ ...res, at: new Date().toISOString(), node: process.version, seconds: secs }, null, 2));
}
fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify({ at: new Date().toISOString(), node: process.version, results: all }, null, 2));
console.log(`\nwrote ${path.relative(ROOT, outDir)}/*.json; ${failed ? `${failed} target(s) missed` : 'all targets met'}`);

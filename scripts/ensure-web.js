#!/usr/bin/env node
// Builds the browser UI (web/ → web/dist) when it is missing or older than its sources, so that
// `npm start` and `npm test` work on a fresh clone without a separate build step.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(root, 'web');
const stamp = path.join(web, 'dist', 'index.html');

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'dist' || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
// The browser also bundles the tunnel protocol it shares with the host (src/tunnel/).
if (built === 0 || Math.max(newest(web), newest(path.join(root, 'src', 'tunnel'))) > built) {
  process.stderr.write('keel: building the web UI (vite build web)…\n');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', web, '--logLevel', 'warn'], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

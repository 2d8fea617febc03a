#!/usr/bin/env node
/**
 * Builds the server that `npm start` and the `keel` command run: src/ bundled and minified by
 * rolldown into dist/<build id>/ (cli.js, mirror-worker.js, docs-manager.js, doc-worker.js and lazily loaded
 * chunks). The build id is a hash of the inputs (every source file's path, size and mtime, the
 * lockfile and this script), so a stale build is never run: `ensureServer()` rebuilds when the id
 * changes, at install (`npm install` runs `prepare`) or at start.
 *
 * Why JavaScript and why one bundle (measured, Node 24, RSS at rest): running the .ts sources
 * loads Node's type-stripping WebAssembly compiler (+17 MB); tsc's one-file-per-module output
 * rests at 117 MB, the minified bundle at 100 MB (less source kept in memory, fewer module
 * records, less to compile). `node src/cli.ts` keeps working for development and tests.
 *
 * Why a directory per build: a running Keel loads chunks lazily (the agent's SDK, Yjs); deleting
 * them under it when a second `npm start` rebuilds would break its first document or agent turn.
 * The last KEEP_BUILDS builds are kept.
 *
 *   node scripts/build-server.js           build if stale, print the entry path
 *   node scripts/build-server.js --force   build now
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
export const DIST = path.join(ROOT, 'dist');
const KEEP_BUILDS = 3;

/**
 * Entry points. Each must sit at the same depth as src/<dir>/x.ts did relative to the repository
 * root (dist/<id>/ is two levels down, like src/http/), because src/http/ui.ts finds the web UI at
 * ../../web/dist from its own module.
 */
const ENTRIES = {
  cli: 'src/cli.ts',
  // A worker thread's script (src/terminals/mirror.ts starts it by this name).
  'mirror-worker': 'src/terminals/mirror-worker.ts',
  // Loaded with require() on first use of the documents API (src/docs/routes.ts), so Yjs is not
  // evaluated at rest; an entry keeps its name and exports.
  'docs-manager': 'src/docs/manager.ts',
  // The document worker's script (src/docs/doc-engine.ts starts it by this name, on first use).
  'doc-worker': 'src/docs/doc-worker.ts',
};

/** Files that are not part of the server: tests and test helpers. */
function isServerSource(name) {
  return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.startsWith('test-');
}

function listSources(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) listSources(p, out);
    else if (isServerSource(e.name)) out.push(p);
  }
  return out;
}

/** The id of the build the current sources make: changes whenever a source, a dependency or this script does. */
export function buildId() {
  const h = crypto.createHash('sha256');
  const files = [...listSources(SRC), path.join(ROOT, 'package.json'), path.join(ROOT, 'package-lock.json'), fileURLToPath(import.meta.url)];
  for (const f of files.sort()) {
    let st;
    try {
      st = fs.statSync(f);
    } catch {
      continue; // no lockfile: the other inputs still decide
    }
    h.update(`${path.relative(ROOT, f)}\0${st.size}\0${Math.trunc(st.mtimeMs)}\n`);
  }
  h.update(process.version.split('.')[0]);
  return h.digest('hex').slice(0, 12);
}

/** The entry file of a finished build, or null when there is none for `id`. */
export function builtEntry(id) {
  const dir = path.join(DIST, id);
  return fs.existsSync(path.join(dir, '.complete')) ? path.join(dir, 'cli.js') : null;
}

/**
 * `import http from 'node:http'` in an ES module builds Node's ESM facade of the module, which
 * reads every export, and `http.WebSocket` / `EventSource` are getters that load undici: +14 MB
 * RSS for a bare server (measured, Node 24). require() (what CommonJS dependencies use) does not.
 * So ES imports of node:http resolve to this module, which takes the CommonJS exports.
 */
const HTTP_SHIM = `const http = process.getBuiltinModule('node:http');
export default http;
export const { Agent, ClientRequest, IncomingMessage, OutgoingMessage, Server, ServerResponse, METHODS, STATUS_CODES, createServer, get, request, validateHeaderName, validateHeaderValue, globalAgent } = http;
`;

function nodeHttpWithoutUndici() {
  return {
    name: 'keel:node-http-without-undici',
    resolveId(id, _importer, extra) {
      // Only ES imports: require('node:http') stays a plain require of the whole module.
      if ((id === 'node:http' || id === 'http') && extra?.kind === 'import-statement') return '\0keel:node-http';
      return null;
    },
    load(id) {
      return id === '\0keel:node-http' ? HTTP_SHIM : null;
    },
  };
}

/** Builds into dist/<id>/ (through a temporary directory, so a crash leaves no half build behind). */
export async function buildServer(id = buildId()) {
  const { build } = await import('rolldown');
  const dir = path.join(DIST, id);
  const tmp = path.join(DIST, `.tmp-${id}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await build({
    cwd: ROOT,
    input: Object.fromEntries(Object.entries(ENTRIES).map(([k, v]) => [k, path.join(ROOT, v)])),
    platform: 'node',
    // Native addons cannot be bundled; they are loaded from node_modules at run time.
    external: [/^node:(?!http$)/, '@lydell/node-pty', '@datadog/pprof'],
    plugins: [nodeHttpWithoutUndici()],
    logLevel: 'warn',
    output: {
      dir: tmp,
      format: 'esm',
      minify: true,
      // V8 keeps a script's source in memory for its whole life, as a two-byte string if a single
      // character of it is not Latin-1 (an ellipsis in a message): twice the bytes. ASCII output
      // keeps every chunk one byte per character (measured: 5.2 → 2.6 MB of source held at rest).
      charset: 'ascii',
      sourcemap: false,
      chunkFileNames: '[name]-[hash].js',
    },
  });
  fs.writeFileSync(path.join(tmp, '.complete'), `${new Date().toISOString()}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  pruneBuilds(id);
  return path.join(dir, 'cli.js');
}

function pruneBuilds(keep) {
  const builds = fs
    .readdirSync(DIST, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[0-9a-f]{12}$/.test(e.name) && e.name !== keep)
    .map((e) => ({ name: e.name, t: fs.statSync(path.join(DIST, e.name)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const b of builds.slice(KEEP_BUILDS - 1)) fs.rmSync(path.join(DIST, b.name), { recursive: true, force: true });
}

function rolldownAvailable() {
  try {
    import.meta.resolve('rolldown');
    return true;
  } catch {
    return false;
  }
}

/**
 * The entry to run: the current build, built now when missing. Without rolldown (dev
 * dependencies not installed) the newest existing build is used; without one, null (the caller
 * runs the TypeScript sources).
 */
export async function ensureServer({ log = (m) => process.stderr.write(m) } = {}) {
  const id = buildId();
  const entry = builtEntry(id);
  if (entry) return entry;
  if (!rolldownAvailable()) {
    const newest = fs.existsSync(DIST)
      ? fs
          .readdirSync(DIST)
          .map((n) => builtEntry(n))
          .filter(Boolean)
          .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
      : undefined;
    if (newest) log(`keel: rolldown is not installed; running the existing build ${path.relative(ROOT, newest)} (it may be older than src/).\n`);
    return newest ?? null;
  }
  log('keel: building the server (src/ → dist/)…\n');
  return buildServer(id);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const force = process.argv.includes('--force');
  const entry = force ? await buildServer() : await ensureServer();
  process.stdout.write(`${entry ? path.relative(ROOT, entry) : 'no build'}\n`);
}

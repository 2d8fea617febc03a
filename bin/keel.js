#!/usr/bin/env node
// The `keel` command runs the built server (dist/<build id>/cli.js), building it first when src/
// has changed since (scripts/build-server.js). Without a build and without the tools to make one,
// it falls back to the TypeScript sources (Node >= 22.18 strips types natively, at a cost of
// ~17 MB of RSS for the type-stripping compiler).
import { pathToFileURL } from 'node:url';
import { ensureServer } from '../scripts/build-server.js';

const entry = await ensureServer();
// The entry is run as the main script, so the re-executed process (src/launch.ts) starts from it
// without checking the build again.
process.argv[1] = entry ?? new URL('../src/cli.ts', import.meta.url).pathname;
await import(pathToFileURL(process.argv[1]).href);

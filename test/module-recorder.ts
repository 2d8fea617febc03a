/**
 * Preloaded with `node --import` by test/lazy-load.test.ts: records the URL of every module the
 * process loads (ES modules, CommonJS, require(esm)), and writes the list to $KEEL_MODULE_LOG on
 * SIGUSR2, so a test can see what a running Keel has loaded.
 */
import fs from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
registerHooks({
  load(url, context, next) {
    loaded.add(url);
    return next(url, context);
  },
});
const out = process.env.KEEL_MODULE_LOG;
if (out) process.on('SIGUSR2', () => fs.writeFileSync(out, [...loaded].join('\n')));

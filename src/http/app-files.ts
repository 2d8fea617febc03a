/**
 * The installable app's files at the site root, from web/dist (Vite copies web/public there):
 * `/sw.js` (the service worker: scope "/" needs it at the root, served `no-cache` so an update is
 * seen at once), `/manifest.webmanifest` and `/icons/*`. They hold no data, so Keel serves them to
 * everyone, like the page shell; the relay serves them too, so the app installs from either.
 */
import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { WEB_DIST } from './ui.ts';

const FILES: Record<string, string> = {
  'sw.js': 'text/javascript; charset=utf-8',
  'manifest.webmanifest': 'application/manifest+json; charset=utf-8',
};

/** `headers` go on every answer (the relay adds its Content-Security-Policy; Keel's come from its own hook). */
export async function registerAppFiles(app: FastifyInstance, o: { headers?: Record<string, string> } = {}): Promise<void> {
  if (!fs.existsSync(path.join(WEB_DIST, 'sw.js'))) return;
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), public: true };
    });
    for (const [file, type] of Object.entries(FILES)) {
      // Read once: these files change only with a new build, which means a restart.
      const body = fs.readFileSync(path.join(WEB_DIST, file));
      scope.get(`/${file}`, async (_req, reply) => {
        reply.type(type).header('Cache-Control', 'no-cache');
        for (const [k, v] of Object.entries(o.headers ?? {})) reply.header(k, v);
        return body;
      });
    }
    const icons = path.join(WEB_DIST, 'icons');
    if (fs.existsSync(icons)) {
      await scope.register(fastifyStatic, {
        root: icons,
        prefix: '/icons/',
        index: false,
        decorateReply: false,
        maxAge: '1d',
        setHeaders: (res) => {
          for (const [k, v] of Object.entries(o.headers ?? {})) res.header(k, v);
        },
      });
    }
  });
}

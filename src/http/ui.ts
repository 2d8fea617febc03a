/**
 * The browser UI: the token exchange at `/?token=…`, sign-out (`POST /api/auth/signout`), the
 * page shell, and the Vite-built files from web/dist.
 *
 * The shell and its hashed assets hold no data, so they are served to everyone: a visitor without
 * the cookie gets the shell with status 401, and the page either shows the read-only terminal its
 * share link (`/#/t/<id>?share=<sig>`, a fragment the server never sees) grants, or says how to
 * sign in once an API call answers 401. Every API and socket still checks credentials.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { registerAppFiles } from './app-files.ts';
import type { Auth } from './auth.ts';

export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

const SIGN_IN_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Keel — sign in</title><style>body{font:16px system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#0f1419;color:#e6e1cf}
main{max-width:30rem;padding:1.5rem}code{background:#1f2630;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><main><h1>Keel</h1><p>This page needs Keel's access token.</p>
<p>Open the URL that <code>keel</code> printed when it started (it ends in <code>?token=…</code>). The token is also in <code>&lt;data-dir&gt;/token</code>.</p></main></body></html>`;

export async function registerUi(app: FastifyInstance, auth: Auth): Promise<void> {
  const hasDist = fs.existsSync(path.join(WEB_DIST, 'index.html'));
  if (hasDist) {
    await app.register(async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...(route.config as object), public: true };
      });
      await scope.register(fastifyStatic, { root: path.join(WEB_DIST, 'assets'), prefix: '/assets/', index: false, decorateReply: false, maxAge: '365d', immutable: true });
    });
  }

  await registerAppFiles(app);

  // Public: a browser whose cookie is stale may still clear it. POST, so the Origin guard applies
  // and another site cannot sign the user out.
  app.post('/api/auth/signout', { config: { public: true } }, async (req, reply) => {
    return reply.header('Set-Cookie', auth.clearCookieHeader(req.scheme === 'https')).header('Cache-Control', 'no-store').code(204).send();
  });

  app.get('/', { config: { public: true } }, async (req, reply) => {
    const q = req.query as { token?: string };
    if (typeof q.token === 'string') {
      if (!auth.checkToken(q.token)) {
        reply.code(401).type('text/html; charset=utf-8');
        return SIGN_IN_PAGE.replace('This page needs', 'That token is not valid. This page needs');
      }
      // Exchange the token for the cookie and drop it from the address bar and history.
      const secure = req.scheme === 'https';
      return reply.header('Set-Cookie', auth.cookieHeader(secure)).header('Cache-Control', 'no-store').redirect('/', 302);
    }
    if (!hasDist) {
      if (!req.principal) {
        reply.code(401).type('text/html; charset=utf-8');
        return SIGN_IN_PAGE;
      }
      reply.code(503).type('text/plain');
      return 'The web UI is not built: run `npm run build` (npm start does it for you).';
    }
    reply.code(req.principal ? 200 : 401).header('Cache-Control', 'no-store').type('text/html; charset=utf-8');
    return fs.createReadStream(path.join(WEB_DIST, 'index.html'));
  });
}

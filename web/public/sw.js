/*
 * Keel's service worker: the installed app opens to its shell when the server cannot be reached,
 * and the page shows "Reconnecting…" until it can (web/src/relay/app-shell.ts).
 *
 * What it keeps: the page shell ("/", without a query) and the built files it references
 * (/assets/…, hashed), the icons and the manifest, in one cache named after VERSION and holding one
 * build: when a newer shell arrives, files it no longer references are deleted. What it never
 * keeps or answers: the API, /stream, /debug, /metrics, sockets, "/?token=…" (the token exchange),
 * any request that is not a GET, and any response that is not a plain 200 — those go to the
 * network only (network-first with nothing to fall back to: an API answer is never stale-served).
 * Plain JavaScript, no build step: it is served as is from /sw.js, scope "/".
 */
const VERSION = 'v1';
const CACHE = `keel-shell-${VERSION}`;
const SHELL = '/';
const STATIC = ['/manifest.webmanifest', '/icons/icon.svg', '/icons/icon-192.png', '/icons/icon-512.png', '/icons/icon-maskable-512.png', '/icons/apple-touch-icon.png'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await Promise.all(STATIC.map((u) => cache.add(u).catch(() => {})));
      await refreshShell(cache).catch(() => {});
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name.startsWith('keel-shell-') && name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    // Only the bare shell: "/?token=…" must reach the server (and is never stored).
    if (url.pathname === SHELL && url.search === '') event.respondWith(shellNetworkFirst(event));
    return;
  }
  if (url.pathname.startsWith('/assets/') || url.pathname.startsWith('/icons/') || url.pathname === '/manifest.webmanifest') {
    event.respondWith(cacheFirst(req));
  }
  // Everything else — the API, /stream, /debug, sockets — is not touched: network only, never cached.
});

/** The shell from the network (stored, with the files it references); from the cache when the network fails. */
async function shellNetworkFirst(event) {
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(event.request, { cache: 'no-store' });
    // Stored in the background (the page does not wait for it); a failure only means no newer offline shell.
    if (res.status === 200 && res.type === 'basic') event.waitUntil(storeShell(cache, res.clone()).catch(() => {}));
    return res;
  } catch (err) {
    const cached = await cache.match(SHELL);
    if (cached) return cached;
    throw err;
  }
}

/** Stores a new shell and the built files it references; drops files of older builds. */
async function storeShell(cache, res) {
  const html = await res.clone().text();
  const assets = [...new Set([...html.matchAll(/(?:src|href)="(\/assets\/[^"?#]+)"/g)].map((m) => m[1]))];
  await Promise.all(assets.map(async (a) => (await cache.match(a)) || cache.add(a).catch(() => {})));
  await cache.put(SHELL, res);
  for (const key of await cache.keys()) {
    const p = new URL(key.url).pathname;
    if (p.startsWith('/assets/') && !assets.includes(p)) await cache.delete(key);
  }
}

async function refreshShell(cache) {
  const res = await fetch(SHELL, { cache: 'no-store', credentials: 'same-origin' });
  if (res.status === 200) await storeShell(cache, res);
}

/** Hashed files never change: the cache first, the network (and the cache) otherwise. */
async function cacheFirst(req) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(req, { ignoreSearch: true });
  if (hit) return hit;
  const res = await fetch(req);
  if (res.status === 200 && res.type === 'basic') await cache.put(req, res.clone()).catch(() => {});
  return res;
}

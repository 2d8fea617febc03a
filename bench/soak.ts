/**
 * Soak run: Keel in its own process under a mixed, bounded load for a fixed time, sampling its
 * memory; passes (exit 0) when, from the end of the warm-up (the first 20 %) to the end, RSS grew by at
 * most 16 MB and heap used (sampled, not after GC) by at most 8 MB, and every document round converged.
 *
 *   node bench/soak.ts                 # 10 minutes (the documented soak)
 *   node bench/soak.ts --minutes 60    # longer
 *
 * Each round (about once a second, bounded by the deadline): create a terminal, attach a viewer,
 * run a command, close it; open and drop /stream subscribers; create, use and delete a chat
 * session; two editors type into a new document, lock and unlock it, leave, and it is deleted;
 * fetch /debug/memory over fresh connections. Every 10 s it samples RSS and, via
 * /debug/memory, heap used. Traffic stays on 127.0.0.1. Writes bench/results/soak.json.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ROOT, sleep, startKeel } from './lib.ts';
import { DocClient } from '../src/docs/test-client.ts';
import { createTerminal, Viewer } from './terminal-client.ts';

const MB = 1024 * 1024;
const argMinutes = process.argv.indexOf('--minutes');
const MINUTES = argMinutes > 0 ? Number(process.argv[argMinutes + 1]) : 10;
const WARMUP_FRACTION = 0.2;
const SAMPLE_MS = 10_000;
const SSE_PER_ROUND = 20;
/** Pass: from the end of the warm-up to the end, RSS and heap used grow by at most these, and every document round converged. */
const RSS_GROWTH_LIMIT_MB = 16;
const HEAP_GROWTH_LIMIT_MB = 8;

function sse(base: string, token: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get(`${base}/stream`, { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => resolve());
    req.setTimeout(5000, () => req.destroy());
  });
}

async function json(base: string, token: string, method: string, p: string, body?: unknown): Promise<any> {
  const r = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${token}`, origin: base, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status >= 400) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? undefined : r.json();
}

/**
 * Two editors type into a new document, one takes and releases the lock, both leave; the document is
 * deleted. False when the editors did not converge or the lock was not seen within 5 s.
 */
async function documentRound(base: string, token: string, round: number): Promise<boolean> {
  const doc = await json(base, token, 'POST', '/api/docs', { title: `soak ${round}` });
  const url = `${base.replace(/^http/, 'ws')}/api/docs/${doc.id}/ws`;
  const opts = { headers: { authorization: `Bearer ${token}`, origin: base } };
  const opened = await Promise.allSettled([DocClient.open(url, { ...opts, name: 'a' }), DocClient.open(url, { ...opts, name: 'b' })]);
  const editors = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  let ok = false;
  try {
    // One editor could not connect: the round failed (the other is still closed below).
    if (editors.length === 2) {
      const [a, b] = editors as [DocClient, DocClient];
      for (let i = 0; i < 20; i++) (i % 2 ? a : b).append(`line ${round}.${i}\n`);
      // Both see all 20 lines before the lock (edits racing a lock are refused, by design).
      const until = Date.now() + 5_000;
      while (Date.now() < until && !(a.text.split('\n').length > 20 && b.text === a.text)) await sleep(10);
      a.requestLock();
      while (Date.now() < until && !b.lastControl('lock', (m) => m.reason === 'acquired')) await sleep(10);
      ok = Date.now() < until;
      a.unlock();
    }
  } finally {
    await Promise.all(editors.map((e) => e.close()));
  }
  await json(base, token, 'DELETE', `/api/docs/${doc.id}`);
  return ok;
}

async function main(): Promise<void> {
  const keel = await startKeel(['--terminal-shell', '/bin/sh']);
  const deadline = Date.now() + MINUTES * 60_000;
  const samples: { t: number; rss_mb: number; heap_mb: number; handles: number }[] = [];
  const t0 = Date.now();
  let rounds = 0;
  let docStalls = 0;
  let nextSample = 0;
  try {
    while (Date.now() < deadline) {
      const term = await createTerminal(keel.base, keel.token, { cols: 100, rows: 30 });
      const v = new Viewer(keel.base, keel.token, term.id, { ack: 'browser' });
      await v.opened();
      v.input('seq 1 2000; echo soak-done\r');
      await v.until(() => v.received > 10_000, 20_000).catch(() => {});
      v.close();
      await json(keel.base, keel.token, 'DELETE', `/api/terminals/${term.id}`);
      await Promise.all(Array.from({ length: SSE_PER_ROUND }, () => sse(keel.base, keel.token)));
      const chat = await json(keel.base, keel.token, 'POST', '/api/chat/sessions', { title: `soak ${rounds}` });
      await json(keel.base, keel.token, 'GET', `/api/chat/sessions/${chat.id}/messages`);
      await json(keel.base, keel.token, 'DELETE', `/api/chat/sessions/${chat.id}`);
      if (!(await documentRound(keel.base, keel.token, rounds))) docStalls++;
      const mem = await keel.get('/debug/memory');
      rounds++;
      if (Date.now() >= nextSample) {
        nextSample = Date.now() + SAMPLE_MS;
        const s = { t: Math.round((Date.now() - t0) / 1000), rss_mb: keel.rss() / MB, heap_mb: mem.memory.heap_alloc_mb, handles: mem.handles };
        samples.push(s);
        console.log(`t=${s.t}s rounds=${rounds} rss=${s.rss_mb.toFixed(1)} MB heap=${s.heap_mb} MB handles=${s.handles}`);
      }
      await sleep(200);
    }
  } finally {
    await keel.stop();
  }
  const after = samples.filter((s) => s.t >= MINUTES * 60 * WARMUP_FRACTION);
  const first = after[0];
  const last = after.at(-1);
  const maxRss = Math.max(...after.map((s) => s.rss_mb));
  const result = {
    minutes: MINUTES,
    rounds,
    document_rounds_not_converged: docStalls,
    rss_after_warmup_mb: first?.rss_mb,
    rss_end_mb: last?.rss_mb,
    rss_max_after_warmup_mb: maxRss,
    heap_after_warmup_mb: first?.heap_mb,
    heap_end_mb: last?.heap_mb,
    samples,
  };
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results/soak.json'), JSON.stringify(result, null, 2));
  console.log(`\nsoak: ${rounds} rounds in ${MINUTES} min (${docStalls} document rounds did not converge in 5 s); RSS after warm-up ${first?.rss_mb.toFixed(1)} MB → end ${last?.rss_mb.toFixed(1)} MB (max ${maxRss.toFixed(1)}); heap ${first?.heap_mb} → ${last?.heap_mb} MB`);
  const rssGrowth = (last?.rss_mb ?? 0) - (first?.rss_mb ?? 0);
  const heapGrowth = (last?.heap_mb ?? 0) - (first?.heap_mb ?? 0);
  const pass = !!first && rssGrowth <= RSS_GROWTH_LIMIT_MB && heapGrowth <= HEAP_GROWTH_LIMIT_MB && docStalls === 0;
  console.log(`${pass ? 'PASS' : 'FAIL'}: RSS growth ${rssGrowth.toFixed(1)} MB (≤ ${RSS_GROWTH_LIMIT_MB}), heap growth ${heapGrowth.toFixed(1)} MB (≤ ${HEAP_GROWTH_LIMIT_MB}), unconverged document rounds ${docStalls} (0)`);
  if (!pass) process.exitCode = 1;
}

await main();

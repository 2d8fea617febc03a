/**
 * Shared documents under load: 50 documents × 4 editors, each editor typing 20 updates/s (and
 * moving its cursor once a second) for 60 s. Measures propagation latency (an editor's update
 * until each of the 3 other editors has applied it) and the server's RSS over time.
 * The server runs in its own process; the 200 editors are real WebSocket + Yjs clients in this one,
 * on 127.0.0.1. `KEEL_BENCH_DOCS_SECONDS` shortens the run for a quick look.
 */
import * as Y from 'yjs';
import { DocClient } from '../src/docs/test-client.ts';
import { percentile, row, sleep, startKeel, type BenchResult } from './lib.ts';

const MB = 1024 * 1024;
const DOCUMENTS = 50;
const EDITORS = 4;
const UPDATES_PER_SECOND = 20;
const SECONDS = Number(process.env.KEEL_BENCH_DOCS_SECONDS) || 60;
/** Tokens each editor keeps in its paragraph (older ones are deleted as new ones are typed). */
const KEEP_TOKENS = 40;
/** An update not seen by a receiver within this long counts as lost (and its entry is dropped). */
const LOST_AFTER_MS = 5_000;

interface Pending {
  sentAt: number;
  waiting: number;
}

export default async function run(): Promise<BenchResult> {
  const keel = await startKeel(['--max-doc-connections', '256', '--max-connections-per-doc', '8', '--max-loaded-docs', '64'], { nodeArgs: [...(process.env.KEEL_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(process.env.KEEL_BENCH_SERVER_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.KEEL_BENCH_SERVER_PROF] : [])] });
  const clients: DocClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const headers = { authorization: `Bearer ${keel.token}` };
    const ids: string[] = [];
    for (let d = 0; d < DOCUMENTS; d++) {
      const r = await fetch(`${keel.base}/api/docs`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ title: `bench ${d}` }) });
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${await r.text()}`);
      ids.push(((await r.json()) as { id: string }).id);
    }

    // key `${doc}:${editor}:${seq}` → when it was sent and how many receivers still wait for it.
    const pending = new Map<string, Pending>();
    const latencies: number[] = [];
    let received = 0;
    let lost = 0;
    const wsBase = keel.base.replace(/^http/, 'ws');
    // Each received update is scanned as bytes for the markers it carries: Y.Text's delta would
    // cost the load process more than the server spends relaying the update.
    const onRemote = (update: Uint8Array) => {
      const now = performance.now();
      for (const m of Buffer.from(update.buffer, update.byteOffset, update.byteLength).toString('latin1').matchAll(/\[(\d+):(\d+):(\d+)\]/g)) {
        const key = `${m[1]}:${m[2]}:${m[3]}`;
        const p = pending.get(key);
        if (!p) continue;
        latencies.push(now - p.sentAt);
        received++;
        if (--p.waiting === 0) pending.delete(key);
      }
    };
    for (let d = 0; d < DOCUMENTS; d++) {
      const batch = await Promise.all(Array.from({ length: EDITORS }, (_, e) => DocClient.open(`${wsBase}/api/docs/${ids[d]}/ws`, { headers, name: `e${e}`, onRemoteUpdate: onRemote, wsOptions: { generateMask: zeroMask } })));
      // Four paragraphs, one per editor: people co-editing a plan each type in their own place.
      batch[0]!.append('\n'.repeat(EDITORS));
      await waitUntil(() => batch.every((c) => c.text.length === EDITORS), 'the paragraphs to reach every editor');
      clients.push(...batch);
    }

    const rss: { t: number; bytes: number }[] = [];
    const t0 = performance.now();
    rss.push({ t: 0, bytes: keel.rss() });
    // V8's heap size beside RSS, read from /debug/memory at 10 s and 20 s: separates the heap
    // growing to its working size from anything Keel keeps.
    const heapTotal: Record<number, number> = {};
    const sampler = setInterval(() => {
      const t = (performance.now() - t0) / 1000;
      rss.push({ t, bytes: keel.rss() });
      const whole = Math.round(t);
      if ((whole === 10 || whole === 20) && heapTotal[whole] === undefined) {
        heapTotal[whole] = NaN;
        void keel.get('/debug/memory').then((m) => (heapTotal[whole] = m.memory.heap_total_mb));
      }
    }, 1000);
    timers.push(sampler);
    const sweeper = setInterval(() => {
      const cutoff = performance.now() - LOST_AFTER_MS;
      for (const [k, p] of pending) {
        if (p.sentAt > cutoff) break; // insertion order is send order
        lost += p.waiting;
        pending.delete(k);
      }
    }, 1000);
    timers.push(sweeper);

    let sent = 0;
    const period = 1000 / UPDATES_PER_SECOND;
    clients.forEach((c, i) => {
      const d = Math.floor(i / EDITORS);
      const e = i % EDITORS;
      let seq = 0;
      // Anchored to the newline that ends this editor's paragraph: typing goes just before it, so
      // an editor's consecutive inserts merge into one Yjs item, as a person's typing does.
      const text = c.doc.getText('content');
      const anchor = Y.createRelativePositionFromTypeIndex(text, e, 0);
      const lengths: number[] = [];
      let paragraph = 0;
      // Staggered starts: 200 editors typing in lockstep would be a synthetic burst, not people.
      const start = setTimeout(() => {
        const t = setInterval(() => {
          const s = seq++;
          pending.set(`${d}:${e}:${s}`, { sentAt: performance.now(), waiting: EDITORS - 1 });
          const token = `[${d}:${e}:${s}]`;
          c.doc.transact(() => {
            const at = Y.createAbsolutePositionFromRelativePosition(anchor, c.doc)!.index;
            text.insert(at, token);
            lengths.push(token.length);
            paragraph += token.length;
            // Keep the paragraph at KEEP_TOKENS tokens: delete the oldest, as someone editing does.
            // The document stays the same size, so a growing RSS would be Keel's, not the text's.
            if (lengths.length > KEEP_TOKENS) {
              const n = lengths.shift()!;
              text.delete(at + token.length - paragraph, n);
              paragraph -= n;
            }
          });
          sent++;
          if (s % UPDATES_PER_SECOND === 0) c.setPresence({ user: { name: `e${e}` }, cursor: s });
        }, period);
        timers.push(t);
      }, Math.random() * period);
      timers.push(start);
    });

    await sleep(SECONDS * 1000);
    for (const t of timers) clearInterval(t);
    await sleep(1000); // let the last updates arrive
    lost += [...pending.values()].reduce((n, p) => n + p.waiting, 0);
    const at = (s: number) => rss.reduce((best, r) => (Math.abs(r.t - s) < Math.abs(best.t - s) ? r : best), rss[0]!).bytes;
    const rss10 = at(10);
    const rssEnd = at(SECONDS);
    const rss20 = at(20);
    const rssMaxAfter10 = Math.max(...rss.filter((r) => r.t >= 10).map((r) => r.bytes));
    const mem = await keel.get('/debug/memory');
    const converged = await checkConvergence(clients);
    latencies.sort((a, b) => a - b);
    return {
      name: 'documents',
      rows: [
        row('documents × editors', DOCUMENTS * EDITORS, 'editors'),
        row('updates sent', sent, 'count'),
        row('update rate (all editors)', sent / SECONDS, 'upd/s'),
        row('deliveries measured', received, 'count'),
        row('deliveries lost (> 5 s or never)', lost, 'count', { op: '<=', limit: 0 }),
        row('propagation latency p50', percentile(latencies, 50), 'ms'),
        row('propagation latency p99', percentile(latencies, 99), 'ms', { op: '<', limit: 50 }),
        row('propagation latency max', latencies.at(-1) ?? NaN, 'ms'),
        row('server RSS at 10 s', rss10 / MB, 'MB'),
        row(`server RSS at ${SECONDS} s`, rssEnd / MB, 'MB'),
        row('server RSS at 20 s', rss20 / MB, 'MB'),
        row(`server RSS growth 10 s → ${SECONDS} s`, (rssEnd - rss10) / MB, 'MB', { op: '<=', limit: 8 }),
        row(`server RSS growth 20 s → ${SECONDS} s`, (rssEnd - rss20) / MB, 'MB', { op: '<=', limit: 8 }),
        row('server RSS max after 10 s', rssMaxAfter10 / MB, 'MB'),
        row('server V8 heap total at 10 s', heapTotal[10] ?? NaN, 'MB'),
        row('server V8 heap total at 20 s', heapTotal[20] ?? NaN, 'MB'),
        row(`server V8 heap total at ${SECONDS} s`, mem.memory.heap_total_mb, 'MB'),
        row('documents converged', converged, 'of 50', { op: '>=', limit: DOCUMENTS }),
        row('doc bytes in memory at end', mem.subsystems.docs.doc_bytes / 1024, 'KiB'),
        row('server heap used at end', mem.memory.heap_alloc_mb, 'MB'),
        row('refused updates', mem.subsystems.docs.refused_updates, 'count', { op: '<=', limit: 0 }),
      ],
      notes: [
        `${DOCUMENTS} documents × ${EDITORS} editors × ${UPDATES_PER_SECOND} updates/s for ${SECONDS} s; each editor types a short token at the end of its own paragraph and deletes the oldest one past ${KEEP_TOKENS} (one update), so documents keep their size; each editor also moves its cursor once a second.`,
        'Latency is measured in the load process (send → applied by each other editor), so it includes that process’ own event-loop delay; server and clients share the 2 cores.',
        'Keel sets V8 --optimize-for-size by default (--v8-optimize-for-size); with it off (KEEL_BENCH_SERVER_NODE_ARGS cannot undo it: start with KEEL_V8_OPTIMIZE_FOR_SIZE=false) RSS climbs for ~30 s while V8 grows its heap; heap used after a forced GC stays flat either way (bench/documents-heapcheck.ts).',
        `RSS samples (s:MB): ${rss.filter((_, i) => i % 10 === 0).map((r) => `${Math.round(r.t)}:${(r.bytes / MB).toFixed(1)}`).join(' ')}`,
      ],
    };
  } finally {
    for (const t of timers) clearInterval(t);
    await Promise.all(clients.map((c) => c.close(2_000)));
    await keel.stop();
  }
}

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** An all-zero frame mask: masking is for proxies, and random masks cost the load process CPU. */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Documents whose 4 editors ended with identical text. */
async function checkConvergence(clients: DocClient[]): Promise<number> {
  let ok = 0;
  for (let d = 0; d < DOCUMENTS; d++) {
    const group = clients.slice(d * EDITORS, d * EDITORS + EDITORS);
    const texts = group.map((c) => c.text);
    if (texts.every((t) => t === texts[0]) && texts[0]!.length > 0) ok++;
  }
  return ok;
}


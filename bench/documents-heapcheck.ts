/**
 * Diagnostic, not a benchmark: the documents load of documents.bench.ts with Keel in this process,
 * printing heap used after a forced GC every 5 s (run with --expose-gc). Separates a leak (heap after
 * GC keeps growing) from V8 and malloc settling (RSS grows, heap after GC does not).
 *   node --expose-gc bench/documents-heapcheck.ts [seconds]
 */
import * as Y from 'yjs';
import { DocClient } from '../src/docs/test-client.ts';
import { startKeel } from '../test/helpers.ts';

const SECONDS = Number(process.argv[2]) || 30;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const k = await startKeel({ maxDocConnections: 256, maxConnectionsPerDoc: 8, maxLoadedDocs: 64, logLevel: 'silent' });
const clients: DocClient[] = [];
const timers: NodeJS.Timeout[] = [];
for (let d = 0; d < 50; d++) {
  const r = await fetch(`${k.url}/api/docs`, { method: 'POST', headers: { ...k.authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ title: `d${d}` }) });
  const { id } = (await r.json()) as { id: string };
  const batch = await Promise.all([0, 1, 2, 3].map(() => DocClient.open(`${k.wsUrl}/api/docs/${id}/ws`, { headers: k.authHeaders })));
  batch[0]!.append('\n\n\n\n');
  while (!batch.every((c) => c.text.length === 4)) await new Promise((r) => setTimeout(r, 5));
  clients.push(...batch);
}
clients.forEach((c, i) => {
  const e = i % 4;
  const text = c.doc.getText('content');
  const anchor = Y.createRelativePositionFromTypeIndex(text, e, 0);
  let s = 0;
  const lengths: number[] = [];
  let paragraph = 0;
  // The benchmark's workload: type a token at the end of one's paragraph, delete the oldest past 40.
  timers.push(
    setInterval(() => {
      const token = `[${i}:${s++}]`;
      c.doc.transact(() => {
        const at = Y.createAbsolutePositionFromRelativePosition(anchor, c.doc)!.index;
        text.insert(at, token);
        lengths.push(token.length);
        paragraph += token.length;
        if (lengths.length > 40) {
          const n = lengths.shift()!;
          text.delete(at + token.length - paragraph, n);
          paragraph -= n;
        }
      });
    }, 50),
  );
});
const mb = (n: number) => (n / 1048576).toFixed(1);
for (let t = 5; t <= SECONDS; t += 5) {
  await new Promise((r) => setTimeout(r, 5000));
  gc();
  const m = process.memoryUsage();
  const st = k.keel.ctx.services.docs!.stats();
  console.log(`${t}s heapUsed ${mb(m.heapUsed)} MB  rss ${mb(m.rss)} MB  doc_bytes ${st.doc_bytes}  connections ${st.connections}`);
}
for (const t of timers) clearInterval(t);
await Promise.all(clients.map((c) => c.close()));
await k.close();

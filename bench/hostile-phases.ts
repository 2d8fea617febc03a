/**
 * The four attacks of issue 10's acceptance run (bench/hostile.bench.ts), each bounded in count and
 * time, each checking that what it attacked still works afterwards. They talk to Keel as a browser
 * or an attacker would: the terminal protocol (bench/terminal-client.ts), raw sockets for refused
 * upgrades (test/raw-http.ts), Yjs over the document WebSocket (src/docs/test-client.ts), and a
 * second process holding keel.db's write lock (test/db-lock.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { updateMessage } from '../src/docs/protocol.ts';
import { DocClient } from '../src/docs/test-client.ts';
import { concurrentInserts, nestedMapChain, touchDeepestMaps } from '../src/docs/test-attacks.ts';
import { lockDatabase } from '../test/db-lock.ts';
import { rawRequest } from '../test/raw-http.ts';
import { KINDS } from '../test/refused-kinds.ts';
import { api, debugMemory, fdCount, MiB, newReport, until, type PhaseContext, type PhaseReport } from './hostile-kit.ts';
import { percentile, sleep } from './lib.ts';
import { createTerminal, Viewer } from './terminal-client.ts';

/** What the browser sends per `i` frame (web/src/terminals/connection.ts MAX_INPUT_FRAME_BYTES). */
const UI_FRAME_BYTES = 64 * 1024;

/** `bytes` of printable multi-line text, lines of 1..120 characters ending in `eol` (xterm sends a paste's newlines as \r). */
function pasteText(bytes: number, eol: string, seed: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
  const lines: string[] = [];
  let n = seed;
  let size = 0;
  while (size < bytes) {
    n = (n * 1103515245 + 12345) & 0x7fffffff;
    let line = '';
    for (let i = 0, len = 1 + (n % 120); i < len; i++) line += alphabet[(n >> (i % 16)) % alphabet.length]!;
    lines.push(line);
    size += line.length + eol.length;
  }
  const s = lines.join(eol);
  return s.slice(0, bytes - eol.length) + eol;
}

function paste(v: Viewer, text: string): void {
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += UI_FRAME_BYTES) v.ws.send(Buffer.concat([Buffer.from('i'), buf.subarray(i, i + UI_FRAME_BYTES)]));
}

async function attach(c: PhaseContext, command: string): Promise<{ id: string; v: Viewer }> {
  const t = await createTerminal(c.keel.base, c.keel.token, { cols: 80, rows: 24, command });
  const v = new Viewer(c.keel.base, c.keel.token, t.id, { ack: 'browser' });
  await v.opened();
  await v.until(() => v.frames > 0, 20_000);
  return { id: t.id, v };
}

async function closeTerminal(c: PhaseContext, t: { id: string; v: Viewer }): Promise<void> {
  t.v.close();
  await api(c.keel, 'DELETE', `/api/terminals/${t.id}`);
}

const screen = async (c: PhaseContext, id: string) => (await api(c.keel, 'GET', `/api/terminals/${id}/screen`)).text;

/**
 * 1. Paste flood: 1 MiB multi-line pastes, as the UI sends them, into `sleep 600` (nothing reads:
 * the paste waits in Keel's input queue), into an interactive bash (runs every line, echoing it a
 * character at a time) and into `cat > file` (must receive every byte), while another terminal
 * running `cat` echoes a keystroke every 50 ms. Then one more paste into a full queue: refused.
 */
export async function pasteFlood(c: PhaseContext): Promise<PhaseReport> {
  const r = newReport();
  const sleepers = c.quick ? 1 : 2;
  const bashBytes = c.quick ? MiB / 4 : MiB;
  const echo = await attach(c, 'cat');
  const stalled = await Promise.all(Array.from({ length: sleepers }, () => attach(c, 'sleep 600')));
  const bash = await attach(c, 'bash --norc --noprofile -i');
  const out = path.join(c.dataDir, 'pasted.txt');
  const catter = await attach(c, `stty -echo; cat > ${out}`);
  const all = [echo, ...stalled, bash, catter];
  try {
    // bash may drop input typed before its line editor runs: ask until it answers.
    await until(async () => (bash.v.input('echo ready-$((1+1))\r'), (await screen(c, bash.id)).includes('ready-2')), 'bash to answer', 30_000, 500);
    // Lines of no-op commands (":" and words); the last prints a marker its echo does not contain.
    let commands = pasteText(bashBytes - 64, '\r', 3).split('\r').filter(Boolean).map((l) => `: ${l}`).join('\r');
    commands = commands.slice(0, commands.lastIndexOf('\r', bashBytes - 64) + 1) + 'echo paste-done-$((6*7))\r';
    const forCat = pasteText(MiB, '\r', 11);

    let done = false;
    const echoes: number[] = [];
    const echoing = (async () => {
      echo.v.keepText = true;
      for (let i = 1; !done; i++) {
        const token = `k${i}z`;
        const t0 = performance.now();
        echo.v.input(i % 20 === 0 ? `${token}\r` : token);
        await echo.v.until(() => echo.v.text.includes(token), 5_000).then(
          () => echoes.push(performance.now() - t0),
          () => echoes.push(Infinity),
        );
        echo.v.text = '';
        await sleep(50);
      }
    })();
    const t0 = performance.now();
    try {
      stalled.forEach((s, i) => paste(s.v, pasteText(MiB, '\r', 20 + i)));
      paste(bash.v, commands);
      paste(catter.v, forCat);
      catter.v.input('\x04'); // ^D at the start of a line: end of file for cat
      const queued = sleepers * (MiB - 64 * 1024);
      await until(async () => (await debugMemory(c.keel)).subsystems.terminals.pending_input_bytes >= queued, 'the stalled pastes to be queued', 60_000, 250);
      const want = forCat.replaceAll('\r', '\n');
      await until(() => fs.existsSync(out) && fs.statSync(out).size >= want.length, '`cat > file` to receive the paste', 120_000, 250);
      const got = fs.readFileSync(out, 'utf8');
      const intact = got === want;
      if (!intact) r.errors.push(`cat received ${got.length} bytes (sha256 ${sha(got)}), not the ${want.length} pasted (sha256 ${sha(want)})`);
      r.figures.push({ metric: 'paste received intact by `cat > file` (1 = yes)', value: intact ? 1 : 0, unit: '', target: { op: '>=', limit: 1 } });
      await until(async () => (await screen(c, bash.id)).includes('paste-done-42'), 'bash to run the whole paste', 240_000, 500);
      r.figures.push({ metric: `bash ran a ${Math.round(bashBytes / 1024)} KiB paste of commands in`, value: (performance.now() - t0) / 1000, unit: 's' });
      // The queue is full: one more paste into it is refused whole, with one notice.
      const before = (await debugMemory(c.keel)).subsystems.terminals;
      paste(stalled[0]!.v, pasteText(3 * UI_FRAME_BYTES, '\r', 7));
      await stalled[0]!.v.until(() => stalled[0]!.v.notices.some((n) => n.code === 'input_busy'), 10_000).catch(() => r.errors.push('no input_busy notice for a paste into a full input queue'));
      const after = (await debugMemory(c.keel)).subsystems.terminals;
      r.figures.push({ metric: 'bytes refused by a full input queue', value: after.input_refused_bytes - before.input_refused_bytes, unit: 'B', target: { op: '>=', limit: 3 * UI_FRAME_BYTES } });
    } finally {
      done = true;
      await echoing;
    }
    const sorted = echoes.filter(Number.isFinite).sort((a, b) => a - b);
    const lost = echoes.length - sorted.length;
    if (lost) r.errors.push(`${lost} keystrokes in the echoing terminal got no echo within 5 s`);
    r.figures.push({ metric: 'keystroke echo in another terminal, p50', value: percentile(sorted, 50), unit: 'ms' });
    r.figures.push({ metric: 'keystroke echo in another terminal, p99', value: percentile(sorted, 99), unit: 'ms' });
    r.figures.push({ metric: 'keystrokes echoed', value: sorted.length, unit: '' });
  } finally {
    await Promise.all(all.map((t) => closeTerminal(c, t)));
  }
  const pending = (await debugMemory(c.keel)).subsystems.terminals.pending_input_bytes;
  r.figures.push({ metric: 'input queued after the terminals closed', value: pending, unit: 'B', target: { op: '<=', limit: 0 } });
  return r;
}

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 12);

/**
 * 2. Refused-upgrade flood: every kind of refused WebSocket upgrade (test/refused-kinds.ts: over-long
 * id → 414, bad %-escape → 400, foreign Origin and unknown Host → 403, no credentials → 401, …),
 * 16 at a time from raw sockets, half closed by the client at once, half left for the server to
 * close. Afterwards: connections and fds back at their baseline, an authenticated request served.
 */
export async function refusedUpgrades(c: PhaseContext): Promise<PhaseReport> {
  const r = newReport();
  const total = c.quick ? 1_000 : 5_000;
  const port = Number(new URL(c.keel.base).port);
  // One /debug/live viewer held open: Keel runs with --max-live-viewers 1, so the "live viewers full" kind is refused.
  const held = new WebSocket(`${c.keel.base.replace(/^http/, 'ws')}/debug/live`, { headers: { authorization: `Bearer ${c.keel.token}`, origin: c.keel.base } });
  await new Promise((res, rej) => (held.once('open', res), held.once('error', rej)));
  try {
    // Least of a few reads: the probe's own /healthz request comes and goes.
    const counts = async () => {
      const m = await debugMemory(c.keel);
      return { http: m.connections.http_connections as number, fds: fdCount(c.keel.pid), pending: m.subsystems.http.pending_upgrades as number };
    };
    const least = async (n: number) => {
      const xs: Awaited<ReturnType<typeof counts>>[] = [];
      for (let i = 0; i < n; i++) {
        xs.push(await counts());
        await sleep(50);
      }
      return { http: Math.min(...xs.map((x) => x.http)), fds: Math.min(...xs.map((x) => x.fds)), pending: Math.min(...xs.map((x) => x.pending)) };
    };
    const base = await least(5);
    const wrong = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < total) {
          const i = next++;
          const kind = KINDS[i % KINDS.length]!;
          const after = Math.floor(i / KINDS.length) % 2 === 0 ? 'close' : 'wait';
          try {
            const res = await rawRequest(port, { method: kind.method, path: kind.path, headers: kind.headers({ authHeaders: { authorization: `Bearer ${c.keel.token}` } }), after });
            let error: unknown;
            try {
              error = JSON.parse(res.body).error;
            } catch {
              error = undefined;
            }
            if (res.status !== kind.status || error !== kind.error) wrong.set(`${kind.name}: ${res.status} ${String(error)}`, (wrong.get(`${kind.name}: ${res.status} ${String(error)}`) ?? 0) + 1);
          } catch (err) {
            const key = `${kind.name} (client ${after}): ${(err as Error).message.slice(0, 120)}`;
            wrong.set(key, (wrong.get(key) ?? 0) + 1);
          }
        }
      }),
    );
    for (const [k, n] of wrong) r.errors.push(`${n} × ${k}`);
    r.figures.push({ metric: `refused upgrades sent (${KINDS.length} kinds)`, value: total, unit: '' });
    r.figures.push({ metric: 'upgrades not answered as expected', value: [...wrong.values()].reduce((a, b) => a + b, 0), unit: '', target: { op: '<=', limit: 0 } });
    const t0 = performance.now();
    const back = await until(async () => {
      const now = await least(3);
      return now.http <= base.http && now.fds <= base.fds && now.pending === 0 && now;
    }, 'connections and fds back at baseline', 15_000, 200).catch(async () => least(3));
    r.figures.push({ metric: 'HTTP connections after − before', value: back.http - base.http, unit: '', target: { op: '<=', limit: 0 } });
    r.figures.push({ metric: 'server fds after − before', value: back.fds - base.fds, unit: '', target: { op: '<=', limit: 0 } });
    r.figures.push({ metric: 'time for connections to come back', value: (performance.now() - t0) / 1000, unit: 's' });
    const authed = await api(c.keel, 'GET', '/api/terminals');
    if (authed.status !== 200) r.errors.push(`an authenticated request after the flood: ${authed.status} ${authed.text.slice(0, 200)}`);
  } finally {
    held.close();
  }
  return r;
}

/** Sends `updates` from `c`, waiting after each until the server has answered it (refused or relayed). */
async function sendAll(c: DocClient, witness: DocClient, updates: Uint8Array[]): Promise<void> {
  for (const u of updates) {
    const answers = c.controls.length;
    const seen = witness.doc.store.clients.size + witness.controls.length;
    c.sendRaw(updateMessage(u));
    await until(() => c.closeInfo || c.controls.length > answers || witness.doc.store.clients.size + witness.controls.length > seen, 'the server to answer the update', 60_000, 20);
  }
}

/**
 * 3. Crafted document updates (src/docs/test-attacks.ts): chains of nested Y.Maps at several depths,
 * each followed by a 64 KB update touching the deepest maps, then rounds of thousands of concurrent
 * inserts at one place. One document, an honest editor and the attacker on it throughout: after each
 * attack both still edit it and the server's copy matches.
 */
export async function craftedUpdates(c: PhaseContext): Promise<PhaseReport> {
  const r = newReport();
  const depths = c.quick ? [5_000, 20_000] : [5_000, 20_000, 40_000];
  const rounds = c.quick ? 2 : 4;
  const created = await api(c.keel, 'POST', '/api/docs', { title: 'hostile' });
  if (created.status !== 201) throw new Error(`create document: ${created.status} ${created.text}`);
  const id = created.json.id as string;
  const url = `${c.keel.base.replace(/^http/, 'ws')}/api/docs/${id}/ws`;
  const headers = { authorization: `Bearer ${c.keel.token}` };
  const honest = await DocClient.open(url, { headers, name: 'Honest' });
  const attacker = await DocClient.open(url, { headers, name: 'Mallory' });
  const exported = async () => (await api(c.keel, 'GET', `/api/docs/${id}/export`)).text;
  let usable = 0;
  const stillUsable = async (mark: string) => {
    attacker.append(` ${mark}`);
    await until(() => honest.text.endsWith(mark), `the attacker’s edit “${mark}” to reach the other editor`, 30_000, 20);
    honest.append('.');
    await until(() => attacker.text.endsWith(`${mark}.`), `the honest edit after “${mark}” to reach the attacker`, 30_000, 20);
    // The attacker never applied its own crafted inserts (it sent them raw): only the honest editor has all of it.
    await until(async () => (await exported()) === honest.text, 'the server to agree with the honest editor', 30_000, 100);
    usable++;
  };
  try {
    honest.append('honest text');
    await until(() => attacker.text === 'honest text', 'the attacker to sync', 10_000, 20);
    for (const depth of depths) {
      // Built before sending: the bench's own work is not the server's.
      const chain: Uint8Array[] = [];
      for (let from = 0; from < depth; from += 20_000) chain.push(nestedMapChain(from, Math.min(depth, from + 20_000)));
      const touch = touchDeepestMaps(depth, 64 * 1024);
      const refusedBefore = attacker.controls.filter((m) => m.type === 'refused').length;
      await sendAll(attacker, honest, [...chain, touch]);
      if (attacker.controls.filter((m) => m.type === 'refused').length === refusedBefore) r.errors.push(`depth ${depth}: the nested-map chain was not refused`);
      if (honest.doc.share.has('root')) r.errors.push(`depth ${depth}: the chain reached the other editor`);
      await stillUsable(`after-${depth}`);
    }
    // Between the first two characters the honest editor typed ("h" and "o").
    const me = honest.doc.clientID;
    for (let i = 0; i < rounds; i++) await sendAll(attacker, honest, [concurrentInserts(Y.createID(me, 0), Y.createID(me, 1), 1_000 + i * 5_000, 5_000)]);
    await stillUsable('after-inserts');
    const refused = attacker.controls.filter((m) => m.type === 'refused');
    r.figures.push({ metric: `updates refused (chains at ${depths.map((d) => d / 1000 + 'k').join('/')} levels, ${rounds} insert rounds)`, value: refused.length, unit: '', target: { op: '>=', limit: depths.length } });
    r.figures.push({ metric: 'of them too_expensive (CPU cap)', value: refused.filter((m) => m.reason === 'too_expensive').length, unit: '' });
    if (attacker.closeInfo) r.errors.push(`the attacker’s socket was closed: ${JSON.stringify(attacker.closeInfo)}`);
  } catch (err) {
    r.errors.push((err as Error).message);
  } finally {
    r.figures.push({ metric: 'document usable after each attack (checks passed)', value: usable, unit: '', target: { op: '>=', limit: depths.length + 1 } });
    await Promise.all([honest.close(), attacker.close()]);
  }
  return r;
}

/**
 * 4. Another process holds keel.db's exclusive lock (test/db-locker.ts) for 30 s while the owner
 * creates and renames chats, opens and closes terminals and edits a document, one write every
 * 250 ms. Every write must be answered at once and kept; all of it lands once the lock is released.
 */
export async function lockedDatabase(c: PhaseContext): Promise<PhaseReport> {
  const r = newReport();
  const lockMs = c.quick ? 6_000 : 30_000;
  const created = await api(c.keel, 'POST', '/api/docs', { title: 'during the lock' });
  if (created.status !== 201) throw new Error(`create document: ${created.status} ${created.text}`);
  const editor = await DocClient.open(`${c.keel.base.replace(/^http/, 'ws')}/api/docs/${created.json.id}/ws`, { headers: { authorization: `Bearer ${c.keel.token}` }, name: 'Ada' });
  const terminals: string[] = [];
  const chats: string[] = [];
  const slow: number[] = [];
  let writes = 0;
  let sawDegraded = false;
  try {
    editor.append('before the lock');
    await until(async () => (await api(c.keel, 'GET', `/api/docs/${created.json.id}`)).json.bytes > 0, 'the first edit to be stored', 10_000);
    const lock = await lockDatabase(path.join(c.dataDir, 'keel.db'));
    const end = Date.now() + lockMs;
    try {
      for (let i = 0; Date.now() < end; i++) {
        const op = i % 4;
        let res;
        if (op === 0) {
          res = await api(c.keel, 'POST', '/api/chat/sessions', { title: `locked ${i}` });
          if (res.status === 201) chats.push(res.json.id);
        } else if (op === 1 && chats.length) {
          res = await api(c.keel, 'PATCH', `/api/chat/sessions/${chats.at(-1)}`, { title: `renamed ${i}` });
        } else if (op === 2) {
          res = await api(c.keel, 'POST', '/api/terminals', { cols: 80, rows: 24, name: `locked ${i}` });
          if (res.status === 201) terminals.push(res.json.id);
          if (terminals.length > 2) {
            const d = await api(c.keel, 'DELETE', `/api/terminals/${terminals.shift()}`);
            if (d.status !== 204) r.errors.push(`DELETE terminal during the lock: ${d.status} ${d.text.slice(0, 200)}`);
          }
        } else {
          editor.append(` +${i}`);
        }
        if (res) {
          writes++;
          slow.push(res.ms);
          if (res.status >= 300) r.errors.push(`write ${i} during the lock: ${res.status} ${res.text.slice(0, 200)}`);
        }
        if (!sawDegraded && i % 8 === 7) sawDegraded = (await api(c.keel, 'GET', '/healthz')).json?.storage === 'degraded';
        await sleep(250);
      }
    } finally {
      await lock.release();
    }
    const t0 = performance.now();
    await until(async () => {
      const m = await debugMemory(c.keel);
      return m.storage.state === 'ok' && m.storage.pending_writes === 0 && m.subsystems.docs.dirty_documents === 0;
    }, 'storage to recover and every write to land', 60_000, 250).catch((err) => r.errors.push(err.message));
    const storage = (await debugMemory(c.keel)).storage;
    slow.sort((a, b) => a - b);
    r.figures.push({ metric: `lock held`, value: lockMs / 1000, unit: 's' });
    r.figures.push({ metric: 'REST writes during the lock', value: writes, unit: '' });
    r.figures.push({ metric: 'REST write answer during the lock, max', value: slow.at(-1) ?? NaN, unit: 'ms' });
    r.figures.push({ metric: 'storage reported degraded during the lock (1 = yes)', value: sawDegraded ? 1 : 0, unit: '', target: { op: '>=', limit: 1 } });
    r.figures.push({ metric: 'writes landed after the lock (landed_after_retry_total)', value: storage.landed_after_retry_total, unit: '' });
    r.figures.push({ metric: 'time for every kept write to land after release', value: (performance.now() - t0) / 1000, unit: 's' });
    r.figures.push({ metric: 'writes pending / dropped after recovery', value: storage.pending_writes + storage.dropped_total, unit: '', target: { op: '<=', limit: 0 } });
  } finally {
    for (const t of terminals) await api(c.keel, 'DELETE', `/api/terminals/${t}`);
    await editor.close();
  }
  return r;
}

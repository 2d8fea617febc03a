/**
 * `keel pair`: prints a pairing link and its QR code for a phone. Asks the running Keel (REST, with
 * the token from the data directory); when none is running, writes the pairing to its database.
 *
 *   keel pair [--name "My phone"]      a new pairing: link + QR code
 *   keel pair --list                   the pairings
 *   keel pair --revoke <id>            revoke one (its open tunnels close)
 */
import fs from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import QRCode from 'qrcode';
import type { KeelOptions } from '../config/options.ts';
import { openDatabase } from '../store/db.ts';
import { EXIT_USAGE, parseCommand } from '../relay/cli-options.ts';
import { relayUrls } from './urls.ts';
import { createPairingLink } from './routes.ts';
import { RelayStore, restrictDatabaseFiles, type Pairing } from './store.ts';

type Made = { pairing: Pairing; link: string };

export async function pairMain(argv: string[]): Promise<void> {
  const { options, extra } = parseCommand({
    name: 'keel pair',
    description: 'Pair a phone (or any browser) with this Keel through its relay: prints a link and a QR code. --list and --revoke <id> manage pairings.',
    groups: ['server', 'relay'],
    argv,
    extra: (c) => c.addOption(new Option('--name <name>', 'a name for the pairing (shown in the list)')).addOption(new Option('--list', 'list the pairings')).addOption(new Option('--revoke <id>', 'revoke a pairing')),
  });
  const api = await runningKeel(options);
  if (extra.list) {
    const list: Pairing[] = api ? ((await call(api, 'GET', '/api/relay/pairings')) as { pairings: Pairing[] }).pairings : withStore(options, (s) => s.list(Date.now()));
    if (!list.length) process.stdout.write('No pairings.\n');
    for (const p of list) process.stdout.write(`${p.id}  ${p.name}  created ${new Date(p.createdAt).toISOString()}  ${p.lastUsedAt ? `last used ${new Date(p.lastUsedAt).toISOString()}` : `unused, link expires ${new Date(p.expiresAt ?? 0).toISOString()}`}\n`);
    return;
  }
  if (typeof extra.revoke === 'string') {
    const ok = api ? (await call(api, 'DELETE', `/api/relay/pairings/${encodeURIComponent(extra.revoke)}`), true) : withStore(options, (s) => s.revoke(extra.revoke as string));
    process.stdout.write(ok ? `Revoked ${extra.revoke}.\n` : `No pairing ${extra.revoke}.\n`);
    if (!ok) process.exit(1);
    return;
  }
  if (!options.relay) {
    process.stderr.write('keel pair: no relay configured. Give the relay Keel dials out to with --relay https://relay.example (or KEEL_RELAY), the same as for `keel`.\n');
    process.exit(EXIT_USAGE);
  }
  const name = typeof extra.name === 'string' ? extra.name : 'Phone';
  const made: Made = api ? ((await call(api, 'POST', '/api/relay/pairings', { name })) as Made) : await withStoreAsync(options, (s) => createPairingLink(s, relayUrls(options.relay)[0]!, name, Date.now()));
  const qr = await QRCode.toString(made.link, { type: 'terminal', small: true });
  process.stdout.write(`\n${qr}\n  Open this link on your phone within ${Math.round(options.relayPairingLinkTtlMs / 60_000)} min. Whoever has it can reach this Keel until you revoke the pairing: keep it private.\n\n  ${made.link}\n\n  Pairing ${made.pairing.id} ("${made.pairing.name}"). Revoke it with: keel pair --revoke ${made.pairing.id}\n\n`);
}

interface Api {
  base: string;
  token: string;
}

async function runningKeel(o: KeelOptions): Promise<Api | undefined> {
  let token = o.token;
  if (!token) {
    try {
      token = fs.readFileSync(path.join(o.dataDir, 'token'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${o.port}`;
  try {
    const res = await fetch(`${base}/api/relay`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3_000) });
    return res.ok ? { base, token } : undefined;
  } catch {
    return undefined;
  }
}

async function call(api: Api, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(api.base + p, {
    method,
    headers: { authorization: `Bearer ${api.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    process.stderr.write(`keel pair: ${data?.message ?? `HTTP ${res.status}`}\n`);
    process.exit(1);
  }
  return data;
}

function withStore<T>(o: KeelOptions, fn: (s: RelayStore) => T): T {
  const db = openDatabase(o.dataDir);
  try {
    const r = fn(new RelayStore(db, { maxPairings: o.relayMaxPairings, linkTtlMs: o.relayPairingLinkTtlMs }));
    restrictDatabaseFiles(o.dataDir);
    return r;
  } finally {
    db.close();
  }
}

async function withStoreAsync<T>(o: KeelOptions, fn: (s: RelayStore) => Promise<T>): Promise<T> {
  const db = openDatabase(o.dataDir);
  try {
    const r = await fn(new RelayStore(db, { maxPairings: o.relayMaxPairings, linkTtlMs: o.relayPairingLinkTtlMs }));
    restrictDatabaseFiles(o.dataDir);
    return r;
  } finally {
    db.close();
  }
}

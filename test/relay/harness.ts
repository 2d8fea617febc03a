/**
 * Relay test kit: a real relay process (`keel relay`, or test/relay/evil-relay.ts for a relay that
 * tampers), a real host process (`keel --relay …`), pairing over the host's REST API, and a Node
 * tunnel client (the browser's own code on Node's WebSocket and WebCrypto). Output of every process
 * is kept, for the tests that grep the relay's logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TunnelClient, type TunnelClientOptions } from '../../src/tunnel/client.ts';
import { importPairingSecret } from '../../src/tunnel/handshake.ts';
import { parsePairingFragment, type PairingLink } from '../../src/tunnel/pairing-link.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src', 'cli.ts');

export interface Proc {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

function run(args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; nodeArgs?: string[]; stdin?: boolean } = {}): Proc {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), ...args], { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString('utf8');
    // Bounded: tests read the start line and grep the rest; 8 MB is more than any run writes.
    if (out.length > 8 * 1024 * 1024) out = out.slice(-4 * 1024 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => out,
    exited,
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

async function waitForOutput(p: Proc, re: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(p.output());
    if (m) return m;
    if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: not seen (exit ${p.child.exitCode}). Output:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RelayProc extends Proc {
  url: string;
  port: number;
}

/** Starts `keel relay` (or another relay script) on 127.0.0.1; `port` 0 picks one. */
export async function startRelay(o: { port?: number; args?: string[]; script?: string; nodeArgs?: string[]; cwd?: string; stdin?: boolean } = {}): Promise<RelayProc> {
  const args = o.script ? [o.script] : [CLI, 'relay'];
  const p = run([...args, '--port', String(o.port ?? 0), '--host', '127.0.0.1', '--log-level', 'info', ...(o.args ?? [])], { nodeArgs: o.nodeArgs, cwd: o.cwd, stdin: o.stdin });
  const m = await waitForOutput(p, /Keel relay is running: +(http:\/\/127\.0\.0\.1:(\d+))/, 'the relay start line');
  return { ...p, url: m[1]!, port: Number(m[2]) };
}

export interface HostProc extends Proc {
  url: string;
  token: string;
  dataDir: string;
  auth: Record<string, string>;
}

let home: string | undefined;
function testHome(): string {
  if (home) return home;
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-relay-home-'));
  fs.writeFileSync(path.join(home, '.bashrc'), "PS1='\\$ '\nunset PROMPT_COMMAND\n");
  process.on('exit', () => fs.rmSync(home!, { recursive: true, force: true }));
  return home;
}

/** Starts a host Keel dialling out to `relayUrl`, and waits until it is registered there. */
export async function startHost(relayUrl: string, o: { dataDir?: string; args?: string[] } = {}): Promise<HostProc> {
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'keel-relay-host-'));
  const shell = fs.existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
  const p = run([CLI, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--relay', relayUrl, '--terminal-shell', shell, '--log-level', 'info', ...(o.args ?? [])], { env: { HOME: testHome(), KEEL_TOKEN: '' } });
  const m = await waitForOutput(p, /Open: +(http:\/\/127\.0\.0\.1:\d+)\/\?token=([A-Za-z0-9_-]+)/, 'the host start line');
  const host: HostProc = { ...p, url: m[1]!, token: m[2]!, dataDir, auth: { authorization: `Bearer ${m[2]}` } };
  await waitRegistered(host);
  return host;
}

export async function waitRegistered(host: HostProc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const s = (await (await fetch(`${host.url}/api/relay`, { headers: host.auth })).json()) as { state: string };
      if (s.state === 'registered') return;
    } catch {
      // Not up yet.
    }
    if (Date.now() > deadline) throw new Error('the host did not register at the relay');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function pair(host: HostProc): Promise<{ link: string; id: string; parsed: PairingLink }> {
  const res = await fetch(`${host.url}/api/relay/pairings`, { method: 'POST', headers: { ...host.auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'test phone' }) });
  if (res.status !== 201) throw new Error(`pairing failed: ${res.status} ${await res.text()}`);
  const made = (await res.json()) as { link: string; pairing: { id: string } };
  return { link: made.link, id: made.pairing.id, parsed: parsePairingFragment(new URL(made.link).hash)! };
}

/** A Node tunnel client for a pairing (fast backoff for tests). */
export async function tunnelClient(relayUrl: string, p: PairingLink, states: string[] = [], more: Partial<TunnelClientOptions> = {}): Promise<TunnelClient> {
  const c = new TunnelClient({
    ...more,
    url: `${relayUrl.replace(/^http/, 'ws')}/relay/connect/${p.hostId}`,
    hostId: p.hostId,
    pairingId: p.pairingId,
    psk: await importPairingSecret(p.secret),
    backoffBaseMs: 200,
    backoffMaxMs: 1_000,
    onState: (s, d) => states.push(d.message ? `${s}: ${d.message}` : s),
  });
  c.start();
  return c;
}

/** The relay's counters, from its /debug/memory (loopback is allowed without the admin token). */
export async function relayCounters(relayUrl: string): Promise<{ bytes_to_host: number; bytes_to_browser: number; tunnels: number; hosts: number }> {
  const r = (await (await fetch(`${relayUrl}/debug/memory`)).json()) as { subsystems: { relay: { bytes_to_host: number; bytes_to_browser: number; tunnels: number; hosts: number } } };
  return r.subsystems.relay;
}

export async function waitUntil<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Creates a terminal through the tunnel and opens its socket; collects output text. */
export async function openTerminal(c: TunnelClient) {
  const s = await c.ready(10_000);
  const res = await s.request({ method: 'POST', path: '/api/terminals', headers: [['content-type', 'application/json']], body: enc.encode(JSON.stringify({ cols: 80, rows: 24 })) });
  const created = JSON.parse(await new Response(res.body).text()) as { id: string };
  let output = '';
  let closed: { code: number; reason: string } | undefined;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const ws = s.webSocket(`/api/terminals/${created.id}/ws`, [], {
    onopen: () => open(),
    onmessage: (d) => {
      if (d[0] === 0x6f || d[0] === 0x73) {
        output += dec.decode(d.subarray(1));
        // Bounded: tests look at the end of the output.
        if (output.length > 4 * 1024 * 1024) output = output.slice(-1024 * 1024);
        // Acknowledge what was "rendered", as a page does, so large outputs flow instead of making this viewer fall behind.
        ws.send(enc.encode(`a${d.length - 1}`), true);
      }
    },
    onclose: (code, reason) => (closed = { code, reason }),
  });
  await opened;
  await waitUntil(() => output.includes('# ') || output.includes('$ '), 'the shell prompt through the tunnel');
  return {
    id: created.id,
    type: (text: string) => ws.send(enc.encode('i' + text), true),
    output: () => output,
    closed: () => closed,
  };
}

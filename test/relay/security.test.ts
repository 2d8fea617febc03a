/**
 * A relay that tampers is caught: real relay process with its forwarding replaced
 * (test/relay/evil-relay.ts), real host process, the browser's tunnel client. A flipped bit, a
 * replayed, reordered or cross-tunnel frame closes the tunnel with a clear message and nothing in
 * it runs; a relay that routes a browser to another host gets a refusal. Separately, a real relay's
 * heap snapshot and logs never hold the token, the pairing secret or a byte of terminal output.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { TunnelClose } from '../../src/tunnel/errors.ts';
import { openTerminal, pair, startHost, startRelay, tunnelClient, waitUntil, type HostProc, type RelayProc } from './harness.ts';

const EVIL = path.join(import.meta.dirname, 'evil-relay.ts');
const procs: { relay?: RelayProc; hosts: HostProc[] }[] = [];

async function setup(mode: string, hostCount = 1) {
  const relay = await startRelay({ script: EVIL, args: ['--evil', mode], stdin: true });
  const hosts: HostProc[] = [];
  for (let i = 0; i < hostCount; i++) hosts.push(await startHost(relay.url));
  procs.push({ relay, hosts });
  return { relay, hosts, arm: (dir: 'toHost' | 'toBrowser') => relay.child.stdin!.write(`arm ${dir}\n`) };
}

after(async () => {
  for (const p of procs) {
    for (const h of p.hosts) {
      await h.kill();
      fs.rmSync(h.dataDir, { recursive: true, force: true });
    }
    await p.relay?.kill();
  }
});

function tmpFile(name: string): string {
  return path.join(os.tmpdir(), `keel-evil-${process.pid}-${name}`);
}

describe('a tampering relay is detected', () => {
  for (const [mode, expect] of [
    ['flip', /failed authentication/],
    ['replay', /replayed/],
    ['reorder', /missing or out of order/],
  ] as const) {
    it(`${mode}: the host closes the tunnel with a clear message and runs nothing from the frame`, async () => {
      const { relay, hosts, arm } = await setup(mode);
      const { parsed } = await pair(hosts[0]!);
      const states: string[] = [];
      const c = await tunnelClient(relay.url, parsed, states);
      const t = await openTerminal(c);
      const a = tmpFile(`${mode}-a`);
      const b = tmpFile(`${mode}-b`);
      fs.rmSync(a, { force: true });
      fs.rmSync(b, { force: true });
      arm('toHost');
      await new Promise((r) => setTimeout(r, 100));
      t.type(`echo x >> ${a}\n`);
      t.type(`echo y >> ${b}\n`);
      const err = await waitUntil(() => c.lastError, 'the tunnel to fail');
      assert.equal(err.closeCode, TunnelClose.security);
      assert.match(err.message, expect);
      assert.ok(states.some((s) => expect.test(s)), `the page is told: ${states.join(' | ')}`);
      await waitUntil(() => t.closed(), 'the terminal socket to close');
      await new Promise((r) => setTimeout(r, 500));
      // Replay: the original frame was genuine and ran once; its copy did not run again.
      if (mode === 'replay') assert.equal(fs.readFileSync(a, 'utf8'), 'x\n');
      else assert.equal(fs.existsSync(a), false, 'the tampered command did not run');
      assert.equal(fs.existsSync(b), false, 'nothing after the bad frame ran');
      assert.match(hosts[0]!.output(), expect, 'the host logged why');
      fs.rmSync(a, { force: true });
      c.stop();
    });
  }

  it('flip towards the browser: the browser closes the tunnel', async () => {
    const { relay, hosts, arm } = await setup('flip');
    const { parsed } = await pair(hosts[0]!);
    const c = await tunnelClient(relay.url, parsed);
    const t = await openTerminal(c);
    arm('toBrowser');
    t.type('echo from-the-host\n');
    const err = await waitUntil(() => c.lastError, 'the browser to detect the tampering');
    assert.equal(err.closeCode, TunnelClose.security);
    assert.match(err.message, /failed authentication/);
    c.stop();
  });

  it('cross-tunnel: a frame of another tunnel of the same pairing is rejected', async () => {
    const { relay, hosts, arm } = await setup('cross-tunnel');
    const { parsed } = await pair(hosts[0]!);
    const first = await tunnelClient(relay.url, parsed);
    const t1 = await openTerminal(first);
    for (let i = 0; i < 5; i++) t1.type(`echo warm-${i}\n`);
    await waitUntil(() => t1.output().includes('warm-4'), 'output on the first tunnel');
    const second = await tunnelClient(relay.url, parsed);
    const t2 = await openTerminal(second);
    const f = tmpFile('cross');
    fs.rmSync(f, { force: true });
    arm('toHost');
    await new Promise((r) => setTimeout(r, 100));
    t2.type(`touch ${f}\n`);
    const err = await waitUntil(() => second.lastError, 'the second tunnel to fail');
    assert.match(err.message, /failed authentication/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(fs.existsSync(f), false);
    assert.equal(first.lastError, undefined, 'the first tunnel is untouched');
    first.stop();
    second.stop();
  });

  it('cross-host: a browser routed to another host is refused there, and never reaches a shell', async () => {
    const { relay, hosts } = await setup('cross-host', 2);
    const { parsed } = await pair(hosts[0]!);
    const states: string[] = [];
    const c = await tunnelClient(relay.url, parsed, states);
    await waitUntil(() => c.state === 'refused', 'a refusal');
    assert.match(c.lastError!.message, /refused this pairing/);
    assert.equal(c.session, undefined);
    c.stop();
  });
});

describe('the relay holds no secret and no plaintext', () => {
  it('a heap snapshot and the logs of the relay contain neither the token, the pairing secret nor terminal output', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-relay-heap-'));
    const relay = await startRelay({ nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`], cwd: dir });
    const host = await startHost(relay.url);
    procs.push({ relay, hosts: [host] });
    const { parsed, link } = await pair(host);
    const secret = link.split('.').pop()!;
    const c = await tunnelClient(relay.url, parsed);
    const t = await openTerminal(c);
    const marker = `MARKER${Date.now().toString(36)}X`;
    // The marker is typed in pieces so it exists only in the shell's output, and once more in full.
    t.type(`echo ${marker.slice(0, 4)}""${marker.slice(4)}; echo ${marker}-line2\n`);
    await waitUntil(() => t.output().includes(`${marker}-line2`), 'the marker in the output through the relay');
    relay.child.kill('SIGUSR2');
    const file = await waitUntil(() => {
      const f = fs.readdirSync(dir).find((n) => n.endsWith('.heapsnapshot'));
      if (!f) return undefined;
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      return text.trimEnd().endsWith('}') ? text : undefined;
    }, 'the relay heap snapshot', 60_000);
    // A control: the snapshot does hold what the relay may know (the host id), so the search works.
    assert.ok(file.includes(parsed.hostId), 'the host id is in the relay heap (control)');
    for (const [what, needle] of [
      ['terminal output', marker],
      ['the pairing secret', secret],
      ['the host token', host.token],
    ] as const) {
      assert.equal(file.includes(needle), false, `${what} is not in the relay heap`);
      assert.equal(relay.output().includes(needle), false, `${what} is not in the relay logs`);
    }
    assert.ok(relay.output().includes(parsed.hostId), 'the relay logged (control)');
    c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

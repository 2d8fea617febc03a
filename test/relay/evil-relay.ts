/**
 * A relay that attacks its tunnels, for the security tests: the real relay server with its frame
 * forwarding replaced. `--evil flip|replay|reorder|cross-tunnel` tampers with the next end-to-end
 * data frame once armed by a line on stdin ("arm toHost" or "arm toBrowser"); `--evil cross-host`
 * routes every browser to another registered host than the one it asked for.
 */
import readline from 'node:readline';
import { Option } from 'commander';
import { parseCommand } from '../../src/relay/cli-options.ts';
import { createRelayServer } from '../../src/relay/server.ts';
import type { Direction, ForwardHook } from '../../src/relay/tunnel.ts';

const { options, extra } = parseCommand({
  name: 'evil-relay',
  description: 'a tampering relay (tests only)',
  groups: ['server', 'http', 'health', 'relay'],
  argv: process.argv.slice(2),
  extra: (c) => c.addOption(new Option('--evil <mode>').makeOptionMandatory()),
});
const mode = extra.evil as string;
let armed: Direction | undefined;
let held: { frame: Buffer; deliver: (f: Buffer) => void } | undefined;
/** Data frames seen per tunnel, by counter (bytes 1..9), for cross-tunnel injection. */
const seen = new Map<number, Map<string, Buffer>>();

const isData = (f: Buffer) => f[0] === 3 && f.length > 25;
const forward: ForwardHook = (frame, dir, tunnel, deliver) => {
  if (isData(frame) && dir === 'toHost') {
    let m = seen.get(tunnel.tunnelId);
    if (!m) seen.set(tunnel.tunnelId, (m = new Map()));
    if (m.size < 10_000) m.set(frame.subarray(1, 9).toString('hex'), Buffer.from(frame));
  }
  if (held && dir === armed) {
    const h = held;
    held = undefined;
    armed = undefined;
    deliver(frame);
    h.deliver(h.frame);
    return;
  }
  if (!armed || dir !== armed || !isData(frame)) return deliver(frame);
  process.stdout.write(`evil: ${mode} ${dir} tunnel ${tunnel.tunnelId}\n`);
  switch (mode) {
    case 'flip': {
      armed = undefined;
      const f = Buffer.from(frame);
      f[f.length - 20]! ^= 0x01;
      return deliver(f);
    }
    case 'replay':
      armed = undefined;
      deliver(frame);
      return deliver(Buffer.from(frame));
    case 'reorder':
      held = { frame, deliver };
      return;
    case 'cross-tunnel': {
      armed = undefined;
      const counter = frame.subarray(1, 9).toString('hex');
      for (const [id, frames] of seen) {
        const other = frames.get(counter);
        if (id !== tunnel.tunnelId && other) return deliver(other);
      }
      process.stdout.write('evil: no frame of another tunnel at that counter\n');
      return deliver(frame);
    }
  }
  deliver(frame);
};

let hosts: string[] = [];
const server = await createRelayServer(options, {
  forward,
  resolveHost: mode === 'cross-host' ? (id) => hosts.find((h) => h !== id) ?? id : undefined,
});
server.relay.onRegistered = (id: string) => void (hosts = [...hosts.filter((h) => h !== id), id]);
const url = await server.listen();
process.stdout.write(`\n  Keel relay is running:  ${url}\n`);
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = /^arm (toHost|toBrowser)$/.exec(line.trim());
  if (m) armed = m[1] as Direction;
});
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));

/**
 * `keel relay`: runs a relay. Same options mechanism as `keel` (flags, KEEL_* variables, config
 * file); the relevant groups are server, http, health and relay.
 *
 *   keel relay --port 8443 --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem
 */
import { tuneRuntime } from '../app.ts';
import { relaunchWithRuntimeFlags } from '../launch.ts';
import { budgetReport } from '../observe/memory-report.ts';
import { parseCommand } from './cli-options.ts';
import { createRelayServer } from './server.ts';

export async function relayMain(argv: string[]): Promise<void> {
  const { options } = parseCommand({
    name: 'keel relay',
    description: 'Run a relay: serves the web UI and routes end-to-end encrypted tunnels between paired browsers and hosts (docs/relay.md).',
    groups: ['server', 'http', 'health', 'relay'],
    argv,
  });
  relaunchWithRuntimeFlags(options, process.argv[1]!, process.argv.slice(2));
  tuneRuntime(options);
  let relay: Awaited<ReturnType<typeof createRelayServer>>;
  try {
    relay = await createRelayServer(options);
  } catch (err) {
    process.stderr.write(`keel relay: ${(err as Error).message}\n`);
    process.exit(1);
  }
  let url: string;
  try {
    url = await relay.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(e.code === 'EADDRINUSE' ? `keel relay: port ${options.port} on ${options.host} is in use; pick another with --port.\n` : `keel relay: cannot listen on ${options.host}:${options.port}: ${e.message}\n`);
    await relay.close('listen failed');
    process.exit(1);
  }
  const budget = budgetReport(relay.ctx);
  process.stdout.write(
    `\n  Keel relay is running:  ${url}\n\n  Hosts connect with:     keel --relay ${url}\n  Worst-case memory:      ${budget.worst_case_mb} MB\n` +
      (options.relayRedisUrl ? '  Shared through Redis:   hosts on the other relays are reachable from this one\n' : '') +
      (options.tlsCert ? '' : '  Serve it behind a TLS proxy (or give --tls-cert/--tls-key): browsers need https for WebCrypto off localhost.\n') +
      '\n',
  );
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    setTimeout(() => process.exit(1), options.shutdownTimeoutMs).unref();
    relay.close(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

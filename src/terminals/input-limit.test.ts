/**
 * The pending-input limit as the agent meets it: terminal_write into a program that reads nothing
 * is accepted while it fits, then refused whole with a result that says why and what to do.
 *
 * The scenario runs in a child process (this file, started again with KEEL_INPUT_LIMIT_CHILD=1):
 * before the fix the PTY write spun the event loop forever, which in the test's own process would
 * hang the test instead of failing it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const LIMIT = 64 * 1024;

async function scenario(): Promise<unknown> {
  const { startServer, waitFor } = await import('./test-helpers.ts');
  const { terminalTools } = await import('../agent/tools.ts');
  const { managerControl } = await import('../agent/terminal-control.ts');
  const srv = await startServer({ terminalShell: '/bin/sh', terminalMaxPendingInputBytes: LIMIT });
  try {
    const mgr = srv.keel.ctx.services.terminals!;
    const tools = terminalTools(managerControl(mgr));
    const ctx = { signal: new AbortController().signal, waitMaxMs: 1_000 };
    const s = mgr.create({ cols: 80, rows: 24, command: 'sleep 600' });
    const text = ('y'.repeat(99) + '\n').repeat(80); // 8,000 characters, within terminal_write's limit
    const results: { text: string; isError: boolean }[] = [];
    for (let i = 0; i < 20; i++) results.push(await tools.terminal_write!.run({ terminalId: s.id, text }, ctx));
    const firstRefused = results.findIndex((r) => r.isError);
    const out = {
      accepted: results.filter((r) => !r.isError).length,
      firstRefused,
      refusedAfterwards: results.slice(firstRefused).every((r) => r.isError),
      message: results[firstRefused]?.text,
      pending: s.pendingInputBytes,
      direct: s.write('z'),
    };
    await s.close();
    await waitFor(() => mgr.list().length === 0, 'the session to go');
    return out;
  } finally {
    await srv.close();
  }
}

if (process.env.KEEL_INPUT_LIMIT_CHILD === '1') {
  scenario().then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (err) => {
      process.stderr.write(String(err?.stack ?? err) + '\n');
      process.exit(1);
    },
  );
} else {
  describe('terminals: the pending-input limit, as the agent sees it', () => {
    it('terminal_write into `sleep 600`: accepted while it fits, then a clear refusal; Keel never spins', async () => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, KEEL_INPUT_LIMIT_CHILD: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        new Promise<number | null>((r) => child.on('exit', (c) => r(c))),
        new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 60_000))),
      ]);
      clearTimeout(timer);
      if (code === 'hung') child.kill('SIGKILL');
      assert.notEqual(code, 'hung', 'the scenario froze (the PTY write blocked the event loop)');
      assert.equal(code, 0, err);
      const r = JSON.parse(out.trim().split('\n').pop()!) as { accepted: number; firstRefused: number; refusedAfterwards: boolean; message: string; pending: number; direct: string };
      assert.ok(r.accepted >= LIMIT / 8_000 - 1, `the writes that fit were typed (${r.accepted})`);
      assert.ok(r.firstRefused > 0, 'refused once the limit was reached');
      assert.ok(r.refusedAfterwards, 'and refused from then on, until the program reads');
      assert.match(r.message, /not reading its input/);
      assert.match(r.message, /--terminal-max-pending-input-bytes/);
      assert.match(r.message, /nothing was typed/);
      assert.ok(r.pending <= LIMIT, `pending ${r.pending} within the limit`);
      assert.equal(r.direct, 'busy');
    });
  });
}

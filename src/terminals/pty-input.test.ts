/** PtyInput on real PTYs: bounded, in order, whole-chunk refusal, no spinning while the program does not read. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pty from '@lydell/node-pty';
import { systemClock } from '../core/clock.ts';
import { INPUT_RETRY_MAX_MS, PtyInput } from './pty-input.ts';
import { waitFor } from './test-helpers.ts';

function spawn(command: string) {
  const p = pty.spawn('/bin/sh', ['-c', command], { cols: 80, rows: 24, encoding: null });
  const socket = (p as unknown as { _socket: { destroyed: boolean } })._socket;
  const exited = new Promise<void>((r) => p.onExit(() => r()));
  p.onData(() => {}); // keep reading output so the program never blocks on it
  return { p, fd: (p as unknown as { fd: number }).fd, fdOpen: () => !socket.destroyed, exited };
}

describe('PtyInput', () => {
  it('a program that never reads: input is bounded, refused whole and then until drained, and the retry backs off instead of spinning', async () => {
    const { p, fd, fdOpen, exited } = spawn('sleep 600');
    const input = new PtyInput({ fd, maxPendingBytes: 64 * 1024, clock: systemClock, fdOpen });
    try {
      const chunk = Buffer.alloc(16 * 1024, 'a\n');
      let accepted = 0;
      while (input.write(chunk) === 'ok') accepted++;
      assert.ok(accepted >= 4, `the PTY and the queue took ${accepted} chunks`);
      assert.ok(input.pendingBytes <= 64 * 1024, `pending ${input.pendingBytes} within the bound`);
      const pending = input.pendingBytes;
      assert.equal(input.write(Buffer.from('x')), 'busy', 'a refused spell lasts until the queue has drained: no hole in a paste');
      assert.equal(input.pendingBytes, pending, 'a refused chunk adds nothing');
      assert.deepEqual(input.refused, { chunks: 2, bytes: chunk.length + 1 });

      // Count write attempts while the program stays stalled: the libuv path made ~87k a second.
      const real = fs.writeSync;
      let attempts = 0;
      fs.writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
        attempts++;
        return real(...args);
      }) as typeof fs.writeSync;
      try {
        await new Promise((r) => setTimeout(r, 1_000));
      } finally {
        fs.writeSync = real;
      }
      assert.ok(attempts <= 1_000 / INPUT_RETRY_MAX_MS + 10, `${attempts} write attempts in 1 s while stalled`);
      assert.ok(attempts >= 5, `still retrying (${attempts})`);

      input.dispose();
      assert.equal(input.pendingBytes, 0);
      assert.equal(input.write(Buffer.from('y')), 'closed');
    } finally {
      input.dispose();
      p.kill('SIGKILL');
      await exited;
    }
  });

  it('a slow reader gets every accepted byte in order, across partial writes and retries', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-pty-input-'));
    const file = path.join(dir, 'out');
    // Raw mode: no line discipline editing, so the bytes arrive exactly; dd reads slowly in small blocks.
    const { p, fd, fdOpen, exited } = spawn(`stty raw -echo; exec dd of=${file} bs=512 count=1024 iflag=fullblock status=none`);
    const input = new PtyInput({ fd, maxPendingBytes: 32 * 1024, clock: systemClock, fdOpen });
    try {
      await new Promise((r) => setTimeout(r, 300)); // let stty run first
      const want = crypto.randomBytes(512 * 1024);
      let refusals = 0;
      for (let at = 0; at < want.length; ) {
        const piece = want.subarray(at, at + 7_000); // not a multiple of anything the kernel uses
        if (input.write(piece) === 'ok') at += piece.length;
        else {
          refusals++;
          await waitFor(() => input.pendingBytes === 0, 'the queue to drain');
        }
      }
      await exited;
      const got = fs.readFileSync(file);
      assert.equal(got.length, want.length);
      assert.ok(got.equals(want), 'identical bytes, in order');
      assert.ok(refusals > 0, 'the bound was reached along the way');
    } finally {
      input.dispose();
      p.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

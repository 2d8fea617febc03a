/**
 * The mirrors of a worker share one xterm decode buffer (mirror-host.ts #parseBuffer). Each xterm
 * terminal otherwise keeps its own, grown to its largest write (512 KiB for a held window of
 * output) and never shrunk: measured, 631 KiB of array buffers per 80×24 mirror after one 200 KB
 * write, 129 KiB with the shared buffer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MirrorHost } from './mirror-host.ts';
import type { FromWorker } from './mirror-messages.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const enc = new TextEncoder();
const KiB = 1024;

function arrayBuffersAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

const ownBuffer = (host: MirrorHost, id: string): Uint32Array => (host.terminal(id) as unknown as { _core: { _inputHandler: { _parseBuffer: Uint32Array } } })._core._inputHandler._parseBuffer;

describe('terminals: mirrors share one decode buffer', () => {
  it('mirrors that each parsed a 200 KB write keep no decode buffer of their own, and parse right', () => {
    const sent: FromWorker[] = [];
    const host = new MirrorHost((m) => sent.push(m));
    const N = 24;
    const before = arrayBuffersAfterGc();
    for (let i = 0; i < N; i++) {
      host.handle({ t: 'open', id: `s${i}`, cols: 80, rows: 24, scrollback: 100 });
      // Multi-byte characters across the write: the shared buffer holds decoded code points, one mirror at a time.
      host.handle({ t: 'data', id: `s${i}`, data: enc.encode(`${`line ${i} é€😀 ${'x'.repeat(60)}\r\n`.repeat(2_500)}end ${i} ✓`) });
    }
    const perMirror = (arrayBuffersAfterGc() - before) / N;
    for (let i = 0; i < N; i++) {
      assert.equal(ownBuffer(host, `s${i}`).length, 0, `mirror s${i} kept its own decode buffer`);
      const req = 1000 + i;
      host.handle({ t: 'text', id: `s${i}`, req, scrollback: 0 });
      const r = sent.find((m) => m.t === 'reply' && m.req === req);
      assert.ok(r && r.t === 'reply' && r.ok);
      const lines = (r.value as string).split('\n');
      assert.equal(lines.at(-1)!.trimEnd(), `end ${i} ✓`);
      assert.equal(lines.at(-2)!.trimEnd(), `line ${i} é€😀 ${'x'.repeat(60)}`);
    }
    // The screen and 100 lines of scrollback: 124 lines × 960 bytes ≈ 116 KiB. Each mirror's own
    // 512 KiB decode buffer would put it above 600 KiB.
    assert.ok(perMirror < 300 * KiB, `array buffers per mirror: ${(perMirror / KiB).toFixed(0)} KiB`);
  });

  it('a mirror rebuilt after xterm threw uses the shared buffer too', () => {
    const sent: FromWorker[] = [];
    const host = new MirrorHost((m) => sent.push(m), { workarounds: false });
    host.handle({ t: 'open', id: 'v', cols: 80, rows: 24, scrollback: 10 });
    host.handle({ t: 'data', id: 'v', data: enc.encode('kept line\r\n\x1b[24;80H\x1b[1J') });
    assert.equal(sent.filter((m) => m.t === 'failed').length, 1, 'xterm threw (the ED 1 bug, workarounds off)');
    assert.equal(ownBuffer(host, 'v').length, 0);
    host.handle({ t: 'data', id: 'v', data: enc.encode('\x1b[Hafter') });
    assert.equal(ownBuffer(host, 'v').length, 0);
  });
});

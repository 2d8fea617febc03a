/**
 * Seeded, bounded fuzz of random output × random resizes through the real mirror worker, at small
 * and default scrollbacks (issue 11, point 5): no exception escapes a session (the worker stays up,
 * no mirror is lost), every snapshot request is answered, and another session's snapshot in the
 * same worker never changes.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MirrorPool, type Mirror, type MirrorEvents } from './mirror.ts';

const SEED = 20_251;
const RUNS_PER_SCROLLBACK = 12;
const OPS_PER_RUN = 40;

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return Math.floor((s / 4294967296) * n);
  };
}

describe('terminals: fuzzing one mirror with output and resizes leaves the others alone', () => {
  const pool = new MirrorPool(1);
  after(() => pool.dispose());

  const lost: string[] = [];
  const degraded: string[] = [];
  const events = (id: string): MirrorEvents => ({
    onDrain() {},
    onFailed: (err) => lost.push(`${id}: ${err.message}`),
    onDegraded: (error) => degraded.push(`${id}: ${error}`),
  });

  for (const scrollback of [0, 1, 10, 2000]) {
    it(`scrollback ${scrollback}: ${RUNS_PER_SCROLLBACK} runs of ${OPS_PER_RUN} random writes and resizes`, async () => {
      const R = rng(SEED + scrollback);
      const bystander = pool.open(`bystander-${scrollback}`, 40, 8, scrollback, 1024 * 1024, events('bystander'));
      bystander.write(Buffer.from('\x1b[1;34mbystander\x1b[0m $ ls\r\n\x1b[32mfile\x1b[0m  dir/\r\n$ '));
      const expected = await bystander.snapshot();
      const pieces: (() => string)[] = [
        () => 'x'.repeat(R(90)),
        () => '中文字',
        () => 'e\u0301…—“”',
        () => '\r\n',
        () => '\n'.repeat(R(6)),
        () => `\x1b[${R(60)};${R(60)}H`,
        () => `\x1b[${R(12)};${R(12)}r`,
        () => '\x1b[r',
        () => `\x1b[${R(4)}L`,
        () => `\x1b[${R(4)}M`,
        () => `\x1b[${R(3)}S`,
        () => `\x1b[${R(3)}T`,
        () => `\x1b[${R(3)}J`,
        () => `\x1b[${R(3)}K`,
        () => '\x1b[1J',
        () => '\x1bM',
        () => '\x1b7',
        () => '\x1b8',
        () => (R(2) ? '\x1b[?1049h' : '\x1b[?1049l'),
        () => `\x1b[3${R(8)}m`,
        () => (R(2) ? '\x1b[?7l' : '\x1b[?7h'),
        () => (R(2) ? '\x1b[?6h' : '\x1b[?6l'),
        () => '\x1b[4h\x1bD\x1b[4l',
      ];
      for (let run = 0; run < RUNS_PER_SCROLLBACK; run++) {
        let cols = 2 + R(60);
        let rows = 1 + R(20);
        const victim: Mirror = pool.open(`victim-${scrollback}-${run}`, cols, rows, scrollback, 1024 * 1024, events('victim'));
        for (let op = 0; op < OPS_PER_RUN; op++) {
          if (R(5) === 0) {
            cols = 2 + R(60);
            rows = 1 + R(20);
            victim.resize(cols, rows);
          } else {
            let d = '';
            for (let k = 1 + R(6); k > 0; k--) d += pieces[R(pieces.length)]!();
            victim.write(Buffer.from(d));
          }
        }
        const snap = await victim.snapshot();
        assert.deepEqual([snap.cols, snap.rows], [cols, rows]);
        victim.dispose();
        assert.deepEqual(await bystander.snapshot(), expected, `run ${run}: the bystander's snapshot changed`);
      }
      bystander.dispose();
      assert.equal(pool.workers, 1, 'the mirror worker died');
      assert.deepEqual(lost, []);
      assert.ok(!degraded.some((d) => d.startsWith('bystander')), degraded.join('\n'));
      // xterm-guards.ts fixes every crash this fuzz has found so far; a new one is contained (degraded), and worth a look.
      if (degraded.length) process.stdout.write(`# degraded mirrors (contained): ${degraded.join(' | ')}\n`);
    });
  }
});

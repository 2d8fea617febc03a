/** How a terminal sized by another device is shown here (web/src/terminals/fit.ts), and the size frames, under Node. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_LEGIBLE_FONT_PX, fitTerminal } from '../../web/src/terminals/fit.ts';
import { decodeServerFrame, encodeResize } from '../../web/src/terminals/protocol.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('terminal size on another device', () => {
  it('a terminal that fits is shown as is', () => {
    assert.deepEqual(fitTerminal({ width: 1200, height: 700 }, { width: 400, height: 690 }, 14), { scale: 1, pan: false });
  });

  it('a larger terminal is scaled down to fit both ways while the font stays legible', () => {
    const f = fitTerminal({ width: 1000, height: 700 }, { width: 1200, height: 600 }, 14);
    assert.equal(f.pan, false);
    assert.ok(Math.abs(f.scale - 1000 / 1200) < 1e-9);
    const tall = fitTerminal({ width: 1000, height: 600 }, { width: 400, height: 700 }, 14);
    assert.ok(Math.abs(tall.scale - 600 / 700) < 1e-9);
  });

  it('past the legible minimum it stops shrinking and pans (a 149-column desktop terminal on a 390 px phone)', () => {
    const f = fitTerminal({ width: 380, height: 700 }, { width: 149 * 7.8 + 14, height: 39 * 15 }, 13);
    assert.equal(f.scale, MIN_LEGIBLE_FONT_PX / 13);
    assert.equal(f.pan, true);
    assert.ok(13 * f.scale >= MIN_LEGIBLE_FONT_PX);
  });

  it('a font already at or below the minimum is never scaled down; empty boxes change nothing', () => {
    assert.deepEqual(fitTerminal({ width: 100, height: 100 }, { width: 400, height: 400 }, 6), { scale: 1, pan: true });
    assert.deepEqual(fitTerminal({ width: 0, height: 0 }, { width: 400, height: 400 }, 14), { scale: 1, pan: false });
  });

  it('encodes a claim ("Fit here") and reads who controls the size from meta', () => {
    assert.deepEqual(JSON.parse(text(encodeResize(90, 30, true)).slice(1)), { cols: 90, rows: 30, claim: true });
    assert.deepEqual(JSON.parse(text(encodeResize(90, 30)).slice(1)), { cols: 90, rows: 30 });
    const m = decodeServerFrame(new Uint8Array(Buffer.from('m{"cols":47,"rows":40,"sizeControl":"other"}', 'latin1')));
    assert.equal(m.type === 'meta' && m.meta.sizeControl, 'other');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeClientFrame, decodeServerFrame, encode, encodeClient, type SizeRange } from './protocol.ts';

const range: SizeRange = { minCols: 2, maxCols: 500, minRows: 1, maxRows: 200 };
const dec = (b: Buffer | string) => decodeClientFrame(Buffer.isBuffer(b) ? b : Buffer.from(b, 'latin1'), range);

describe('protocol codec', () => {
  it('decodes input as raw bytes, including invalid UTF-8 and empty input', () => {
    const r = dec(Buffer.from([0x69, 0xff, 0x00, 0x1b]));
    assert.deepEqual(r, { ok: true, message: { type: 'input', data: Buffer.from([0xff, 0x00, 0x1b]) } });
    assert.deepEqual(dec('i'), { ok: true, message: { type: 'input', data: Buffer.alloc(0) } });
  });

  it('decodes resize within range and refuses everything else', () => {
    assert.deepEqual(dec('r{"cols":80,"rows":24}'), { ok: true, message: { type: 'resize', cols: 80, rows: 24 } });
    assert.deepEqual(dec(encodeClient.resize(500, 200)), { ok: true, message: { type: 'resize', cols: 500, rows: 200 } });
    // "Fit to this device": a claim; claim false is a plain preference.
    assert.deepEqual(dec(encodeClient.resize(90, 30, true)), { ok: true, message: { type: 'resize', cols: 90, rows: 30, claim: true } });
    assert.deepEqual(dec('r{"cols":90,"rows":30,"claim":false}'), { ok: true, message: { type: 'resize', cols: 90, rows: 30 } });
    for (const bad of ['r', 'r{', 'r[]', 'rnull', 'r"x"', 'r{"cols":80}', 'r{"cols":1,"rows":24}', 'r{"cols":501,"rows":24}', 'r{"cols":80,"rows":0}', 'r{"cols":80.5,"rows":24}', 'r{"cols":"80","rows":24}', 'r{"cols":1e9,"rows":1e9}', 'r{"cols":-80,"rows":-24}', 'r{"cols":NaN,"rows":1}', 'r{"cols":80,"rows":24,"claim":1}', 'r{"cols":80,"rows":24,"claim":"yes"}', 'r{"cols":80,"rows":24,"claim":null}', 'r' + ' '.repeat(300) + '{"cols":80,"rows":24}']) {
      const r = dec(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.code, 'invalid_resize');
    }
  });

  it('decodes acks as non-negative decimal counts only', () => {
    assert.deepEqual(dec('a5000'), { ok: true, message: { type: 'ack', bytes: 5000 } });
    assert.deepEqual(dec(encodeClient.ack(9_999_999_999)), { ok: true, message: { type: 'ack', bytes: 9_999_999_999 } });
    assert.deepEqual(dec('a0'), { ok: true, message: { type: 'ack', bytes: 0 } });
    for (const bad of ['a', 'a-5', 'a1.5', 'a1e3', 'a 12', 'a12 ', 'a0x10', 'a12345678901', 'aabc']) {
      const r = dec(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.code, 'invalid_ack');
    }
  });

  it('refuses empty frames and unknown opcodes with a notice code', () => {
    const e = dec(Buffer.alloc(0));
    assert.equal(e.ok, false);
    if (!e.ok) assert.equal(e.code, 'empty_frame');
    for (const op of [0x00, 0x49 /* I */, 0x6f /* o: a server opcode */, 0xff]) {
      const r = dec(Buffer.from([op, 1, 2]));
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.code, 'unknown_opcode');
        assert.match(r.message, /0x[0-9a-f]{2}/);
      }
    }
  });

  it('round-trips every server frame', () => {
    assert.deepEqual(decodeServerFrame(encode.output(Buffer.from([1, 2, 0xff]))), { type: 'output', data: Buffer.from([1, 2, 0xff]) });
    assert.deepEqual(decodeServerFrame(encode.snapshot('\x1b[31mé')), { type: 'snapshot', data: '\x1b[31mé' });
    assert.deepEqual(decodeServerFrame(encode.exit({ code: 0, signal: null })), { type: 'exit', info: { code: 0, signal: null } });
    const meta = { id: 't_x', name: 'n', cols: 80, rows: 24, viewers: 2, role: 'owner' as const, behind: false, sizeControl: 'other' as const };
    assert.deepEqual(decodeServerFrame(encode.meta(meta)), { type: 'meta', meta });
    assert.deepEqual(decodeServerFrame(encode.notice('read_only', 'no')), { type: 'notice', code: 'read_only', message: 'no' });
    assert.equal(encode.output(Buffer.from('x'))[0], 'o'.charCodeAt(0));
    assert.throws(() => decodeServerFrame(Buffer.alloc(0)));
    assert.throws(() => decodeServerFrame(Buffer.from('zzz')));
  });
});

/** The flow-control rules (flow-policy.ts) on their own: who paces the PTY, who lags, who is behind, and the hold budget. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { behindAt, behindMarginBytes, fastestPacerLoad, HOLD_BUDGET_MS, HOLD_REFILL_PER_MS, HoldBudget, isLagging, viewersHoldPty, type FlowViewer } from './flow-policy.ts';

const KiB = 1024;
const marks = { highWatermarkBytes: 256 * KiB, lowWatermarkBytes: 32 * KiB, behindMarginBytes: behindMarginBytes(256 * KiB, 64 * KiB) };
const owner = (loadBytes: number, state: FlowViewer['state'] = 'live'): FlowViewer => ({ role: 'owner', state, loadBytes });
const reader = (loadBytes: number, state: FlowViewer['state'] = 'live'): FlowViewer => ({ role: 'read-only', state, loadBytes });

describe('terminals: flow policy', () => {
  it('the margin is one high watermark plus one frame', () => {
    assert.equal(marks.behindMarginBytes, 320 * KiB);
  });

  it('read-only viewers never pace: with no owner the PTY is never held, however far over they are', () => {
    assert.equal(viewersHoldPty([reader(10_000 * KiB), reader(10_000 * KiB)], marks, false), false);
    assert.equal(viewersHoldPty([reader(10_000 * KiB)], marks, true), false);
    assert.equal(viewersHoldPty([], marks, false), false);
    // An owner over the mark with a read-only viewer under it: the owner alone decides.
    assert.equal(viewersHoldPty([owner(300 * KiB), reader(0)], marks, false), true);
    // A behind owner does not pace either.
    assert.equal(viewersHoldPty([owner(0, 'behind'), reader(900 * KiB)], marks, false), false);
  });

  it('owners pause the PTY together: every pacer over the high mark to pause, one under the low mark to resume', () => {
    assert.equal(viewersHoldPty([owner(256 * KiB), owner(255 * KiB)], marks, false), false);
    assert.equal(viewersHoldPty([owner(256 * KiB), owner(256 * KiB)], marks, false), true);
    assert.equal(viewersHoldPty([owner(33 * KiB), owner(300 * KiB)], marks, true), true);
    assert.equal(viewersHoldPty([owner(32 * KiB), owner(300 * KiB)], marks, true), false);
    // A syncing owner paces by what is held for it.
    assert.equal(viewersHoldPty([owner(300 * KiB), owner(10 * KiB, 'syncing')], marks, false), false);
  });

  it('the fastest pacer is the live owner with the least load; syncing, behind and read-only viewers do not count', () => {
    assert.equal(fastestPacerLoad([owner(90), owner(40), reader(1), owner(2, 'syncing'), owner(3, 'behind')]), 40);
    assert.equal(fastestPacerLoad([reader(1), owner(2, 'syncing')]), undefined);
  });

  it('an owner lags only more than the margin past the fastest; the fastest never lags', () => {
    const fastest = 100 * KiB;
    assert.equal(isLagging(owner(fastest + marks.behindMarginBytes), fastest, marks), false);
    assert.equal(isLagging(owner(fastest + marks.behindMarginBytes + 1), fastest, marks), true);
    assert.equal(isLagging(owner(fastest), fastest, marks), false);
    assert.equal(isLagging(reader(10_000 * KiB), fastest, marks), false, 'read-only viewers never hold');
    assert.equal(isLagging(owner(10_000 * KiB, 'syncing'), fastest, marks), false);
  });

  it('behind thresholds: read-only at the margin past the fastest owner (the high mark with none), owners at twice the margin', () => {
    assert.equal(behindAt(marks, undefined, 'read-only'), marks.highWatermarkBytes);
    assert.equal(behindAt(marks, 0, 'read-only'), marks.behindMarginBytes);
    assert.equal(behindAt(marks, 200 * KiB, 'read-only'), 200 * KiB + marks.behindMarginBytes);
    assert.equal(behindAt(marks, 200 * KiB, 'owner'), 200 * KiB + 2 * marks.behindMarginBytes);
  });

  it('hold budget: spent while holding, refilled at the refill rate while not, never above the cap', () => {
    const b = new HoldBudget(0);
    assert.equal(b.left(1_000), HOLD_BUDGET_MS, 'full at the start, capped');
    b.setHolding(true);
    assert.equal(b.left(1_200), HOLD_BUDGET_MS - 200);
    assert.equal(b.left(2_000), HOLD_BUDGET_MS - 1_000, 'a hold past the budget is a debt');
    b.setHolding(false);
    assert.equal(b.left(3_000), HOLD_BUDGET_MS - 1_000 + 1_000 * HOLD_REFILL_PER_MS);
    assert.equal(b.left(100_000), HOLD_BUDGET_MS);
    // Holding whenever there is budget, in 10 ms steps (each overshoots): the long-run share is still the refill rate.
    let t = 100_000;
    let held = 0;
    for (let i = 0; i < 1_000; i++) {
      const left = b.left(t);
      b.setHolding(left > 0);
      if (left > 0) held += 10;
      t += 10;
    }
    assert.ok(held <= HOLD_BUDGET_MS + 10_000 * HOLD_REFILL_PER_MS + 10 * 10, `held ${held} ms of 10 s`);
  });
});

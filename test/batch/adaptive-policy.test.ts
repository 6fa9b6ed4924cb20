import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { createAdaptivePolicy, JOIN_SHARE_BOUNDS } from '../../src/batch/adaptive-policy.ts';
import type { FlushFeatures } from '../../src/batch/flush-policy.ts';

// The reward of docs/policies.md, written out here apart from src: holding T ms at rate ρ gathers
// n = 1 + ρT; each request saves 1 − n^e/n and pays c × (its mean hold + perItem × (n − 1)).
function reward(rate: number, t: number, c: number, e: number, perItem = 0): number {
  const n = 1 + rate * t;
  const meanHold = (t + (n - 1) * (t / 2)) / n;
  return 1 - n ** e / n - c * (meanHold + perItem * (n - 1));
}
function bruteBestHold(rate: number, maxMs: number, c: number, e: number, perItem = 0): number {
  let best = 0, bestR = reward(rate, 0, c, e, perItem);
  for (let t = 0; t <= maxMs; t += 0.01) { const r = reward(rate, t, c, e, perItem); if (r > bestR) { best = t; bestR = r; } }
  return best;
}

const features = (over: Partial<FlushFeatures> = {}): FlushFeatures => ({
  queueDepth: 1, arrivalRatePerMs: 0, slotAgeMs: 0, upstreamP99Ms: 100, maxWaitMs: 100, maxBatchSize: 1_000, key: 'k', now: 0, ...over,
});

/** Feeds `key` arrivals at `ratePerMs` for `ms`, ending at the returned time. */
function feed(p: ReturnType<typeof createAdaptivePolicy>, key: string, ratePerMs: number, ms: number, from = 0): number {
  const gap = 1 / ratePerMs;
  let t = from;
  for (; t < from + ms; t += gap) p.arrived(key, t);
  return t;
}

const adaptive = suite('adaptive flush policy');

adaptive('a key nobody else asks for is served at once', () => {
  const p = createAdaptivePolicy({ latencyCostPerMs: 0.01, batchCostExponent: 0.5 });
  p.arrived('lonely', 0);
  assert.is(p.holdMs(features({ key: 'lonely', now: 0 })), 0);
  assert.is(p.decide(features({ key: 'lonely', now: 0 })), 'SERVE');
});

adaptive('a busy key is held for the hold the documented reward says is best', () => {
  const c = 0.01, e = 0.5, rate = 0.3;
  const p = createAdaptivePolicy({ latencyCostPerMs: c, batchCostExponent: e });
  const now = feed(p, 'hot', rate, 5_000);
  const hold = p.holdMs(features({ key: 'hot', now }));
  const expected = bruteBestHold(rate, 100, c, e);
  assert.ok(Math.abs(hold - expected) <= 0.1 * expected, `hold ${hold} vs best ${expected}`);
  assert.is(p.decide(features({ key: 'hot', now, slotAgeMs: hold * 0.9 })), 'WAIT');
  assert.is(p.decide(features({ key: 'hot', now, slotAgeMs: hold * 1.01 })), 'SERVE');
});

adaptive('holds never exceed maxWaitMs, and are shorter when latency costs more', () => {
  const cheap = createAdaptivePolicy({ latencyCostPerMs: 0.001, batchCostExponent: 0 });
  const dear = createAdaptivePolicy({ latencyCostPerMs: 0.05, batchCostExponent: 0 });
  const now = feed(cheap, 'k', 0.2, 3_000);
  feed(dear, 'k', 0.2, 3_000);
  const h1 = cheap.holdMs(features({ now, maxWaitMs: 40 }));
  const h2 = dear.holdMs(features({ now, maxWaitMs: 40 }));
  assert.ok(h1 <= 40 && h2 <= 40);
  assert.ok(h2 < h1, `${h2} < ${h1}`);
});

adaptive('learns the upstream latency per batched item and shortens its holds for it', () => {
  const p = createAdaptivePolicy({ latencyCostPerMs: 0.01, batchCostExponent: 0.5 });
  const now = feed(p, 'k', 0.3, 5_000);
  const before = p.holdMs(features({ now }));
  for (let i = 0; i < 200; i++) {
    const n = 1 + (i % 20);
    p.outcome({ batchSize: n, slotAgeMs: 5, arrivalRatePerMs: 0.3, upstreamMs: 80 + 2 * (n - 1), meanHoldMs: 3, failed: false });
  }
  assert.ok(Math.abs(p.learned.perItemMs - 2) < 0.05, `slope ${p.learned.perItemMs}`);
  const after = p.holdMs(features({ now }));
  const expected = bruteBestHold(0.3, 100, 0.01, 0.5, 2);
  assert.ok(after < before, `${after} < ${before}`);
  assert.ok(Math.abs(after - expected) <= 0.15 * expected + 0.2, `hold ${after} vs best ${expected}`);
});

adaptive('the join share follows how many really joined against the prediction, within bounds', () => {
  const p = createAdaptivePolicy({ learningRate: 0.5 });
  const now = feed(p, 'k', 1, 2_000);
  for (let i = 0; i < 30; i++) p.observe({ batchSize: 1 + 5, slotAgeMs: 20, arrivalRatePerMs: 1, key: 'k', now });
  assert.ok(Math.abs(p.learned.joinShare - 0.25) < 0.05, String(p.learned.joinShare)); // 5 joined where ~20 were predicted
  for (let i = 0; i < 30; i++) p.observe({ batchSize: 1_000, slotAgeMs: 20, arrivalRatePerMs: 1, key: 'k', now });
  assert.is(p.learned.joinShare <= JOIN_SHARE_BOUNDS.max, true);
});

adaptive('learned state round-trips, blends by evidence, and a bad one is refused by name', () => {
  const a = createAdaptivePolicy({ learningRate: 0.5 });
  const now = feed(a, 'k', 1, 2_000);
  for (let i = 0; i < 20; i++) a.observe({ batchSize: 11, slotAgeMs: 20, arrivalRatePerMs: 1, key: 'k', now });
  for (let i = 0; i < 40; i++) a.outcome({ batchSize: 1 + (i % 8), slotAgeMs: 5, arrivalRatePerMs: 1, upstreamMs: 50 + (i % 8), meanHoldMs: 2, failed: false });
  const state = JSON.parse(JSON.stringify(a.exportState()));
  const b = createAdaptivePolicy();
  b.loadState(state);
  assert.is(b.learned.joinShare, a.learned.joinShare);
  assert.is(b.learned.perItemMs, a.learned.perItemMs);
  const c = createAdaptivePolicy();
  c.loadState(state, 'blend'); // nothing of its own yet: takes the peer's
  assert.is(c.learned.joinShare, a.learned.joinShare);
  try {
    b.loadState({ ...state, joinShare: 99 });
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code?: string }).code, ErrorCode.InvalidArgument);
    assert.match(String((err as Error).message), 'joinShare');
  }
});

adaptive('bad options are refused naming the option', () => {
  for (const bad of [{ latencyCostPerMs: 0 }, { batchCostExponent: 2 }, { learningRate: 0 }, { maxKeys: 0 }]) {
    try { createAdaptivePolicy(bad); assert.unreachable(); } catch (err) {
      assert.is((err as { code?: string }).code, ErrorCode.InvalidArgument);
      assert.match(String((err as Error).message), Object.keys(bad)[0]!);
    }
  }
});

adaptive('forgets the least recently seen keys beyond maxKeys', () => {
  const p = createAdaptivePolicy({ maxKeys: 2 });
  p.arrived('a', 0); p.arrived('b', 1); p.arrived('c', 2);
  assert.is(p.learned.keys, 2);
});

adaptive.run();

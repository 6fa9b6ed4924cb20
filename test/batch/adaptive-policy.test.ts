import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { createAdaptivePolicy, JOIN_SHARE_BOUNDS } from '../../src/batch/adaptive-policy.ts';
import { decideWithGuards } from '../../src/batch/flush-policy.ts';
import type { FlushFeatures } from '../../src/batch/flush-policy.ts';

const features = (over: Partial<FlushFeatures> = {}): FlushFeatures => ({
  queueDepth: 1, arrivalRatePerMs: 1, slotAgeMs: 0, upstreamP99Ms: 100, maxWaitMs: 50, maxBatchSize: 1_000, ...over,
});

const adaptive = suite('adaptive flush policy');

adaptive('a quiet target serves at once: no one else is expected within a p99', () => {
  const p = createAdaptivePolicy();
  assert.is(p.decide(features({ arrivalRatePerMs: 0.001 })), 'SERVE'); // 1 rps against a 100 ms upstream
});

adaptive('a busy target keeps waiting while more arrive per p99 than are already waiting', () => {
  const p = createAdaptivePolicy();
  const busy = { arrivalRatePerMs: 1, upstreamP99Ms: 100 }; // 100 expected per p99
  assert.is(p.decide(features({ ...busy, queueDepth: 1 })), 'WAIT');
  assert.is(p.decide(features({ ...busy, queueDepth: 100 })), 'WAIT');
  assert.is(p.decide(features({ ...busy, queueDepth: 101 })), 'SERVE');
});

adaptive('latencyWeight trades latency against saved calls', () => {
  const f = features({ arrivalRatePerMs: 1, upstreamP99Ms: 100, queueDepth: 30 });
  assert.is(createAdaptivePolicy({ latencyWeight: 1 }).decide(f), 'WAIT');
  assert.is(createAdaptivePolicy({ latencyWeight: 4 }).decide(f), 'SERVE');
});

adaptive('serves when fewer than one join is expected before maxWaitMs', () => {
  const p = createAdaptivePolicy();
  const slow = { arrivalRatePerMs: 0.05, upstreamP99Ms: 1_000, maxWaitMs: 50 }; // 50 per p99: worth waiting…
  assert.is(p.decide(features({ ...slow, slotAgeMs: 20 })), 'WAIT'); // 1.5 expected in the 30 ms left
  assert.is(p.decide(features({ ...slow, slotAgeMs: 35 })), 'SERVE'); // …but 0.75 expected in the 15 ms left
});

adaptive('with no upstream p99 yet it behaves like the timer policy', () => {
  const p = createAdaptivePolicy();
  for (const p99 of [Number.NaN, 0, -1]) {
    assert.is(p.decide(features({ upstreamP99Ms: p99, arrivalRatePerMs: 0.0001 })), 'WAIT');
  }
  assert.is(decideWithGuards(p, features({ upstreamP99Ms: Number.NaN, slotAgeMs: 50 })), 'SERVE');
});

adaptive('an empty slot waits', () => {
  assert.is(createAdaptivePolicy().decide(features({ queueDepth: 0, arrivalRatePerMs: 0 })), 'WAIT');
});

adaptive('the guards still cap it', () => {
  const p = createAdaptivePolicy();
  assert.is(decideWithGuards(p, features({ queueDepth: 1_000, arrivalRatePerMs: 100 })), 'SERVE');
  assert.is(decideWithGuards(p, features({ slotAgeMs: 50, arrivalRatePerMs: 100 })), 'SERVE');
});

adaptive('learns the share of arrivals that really join, step by step', () => {
  const p = createAdaptivePolicy({ learningRate: 0.2 });
  assert.is(p.learned.joinShare, 1);
  // Slots see a quarter of the joins the target-wide rate predicts: 0.1/ms × 40 ms = 4 predicted, 1 joined.
  for (let k = 1; k <= 5; k++) {
    p.observe({ batchSize: 2, slotAgeMs: 40, arrivalRatePerMs: 0.1 });
    const expected = 0.25 + 0.75 * 0.8 ** k;
    assert.ok(Math.abs(p.learned.joinShare - expected) < 1e-12, `after ${k}: ${p.learned.joinShare} vs ${expected}`);
  }
  assert.is(p.learned.observations, 5);
});

adaptive('what it learns changes its decisions', () => {
  const p = createAdaptivePolicy();
  const f = features({ arrivalRatePerMs: 0.2, upstreamP99Ms: 100, queueDepth: 10 }); // 20 per p99 vs 10 waiting
  assert.is(p.decide(f), 'WAIT');
  for (let i = 0; i < 30; i++) p.observe({ batchSize: 1, slotAgeMs: 50, arrivalRatePerMs: 0.2 }); // nobody ever joined
  assert.is(p.decide(f), 'SERVE');
  for (let i = 0; i < 30; i++) p.observe({ batchSize: 11, slotAgeMs: 50, arrivalRatePerMs: 0.2 }); // as predicted
  assert.is(p.decide(f), 'WAIT');
});

adaptive('ignores observations with too little signal and keeps the share within bounds', () => {
  const p = createAdaptivePolicy({ learningRate: 1 });
  p.observe({ batchSize: 50, slotAgeMs: 1, arrivalRatePerMs: 0.1 }); // 0.1 predicted: skipped
  p.observe({ batchSize: 0, slotAgeMs: 100, arrivalRatePerMs: 0.1 }); // no batch: skipped
  assert.is(p.learned.observations, 0);
  p.observe({ batchSize: 1_000, slotAgeMs: 10, arrivalRatePerMs: 0.1 });
  assert.is(p.learned.joinShare, JOIN_SHARE_BOUNDS.max);
  p.observe({ batchSize: 1, slotAgeMs: 10, arrivalRatePerMs: 0.1 });
  assert.is(p.learned.joinShare, JOIN_SHARE_BOUNDS.min);
});

adaptive('is deterministic: the same history gives the same decisions', () => {
  const run = () => {
    const p = createAdaptivePolicy();
    const out: string[] = [];
    for (let i = 0; i < 50; i++) {
      p.observe({ batchSize: 1 + (i % 7), slotAgeMs: 10 + (i % 13), arrivalRatePerMs: 0.05 * (1 + (i % 3)) });
      out.push(p.decide(features({ queueDepth: 1 + (i % 9), arrivalRatePerMs: 0.02 * (i % 5), slotAgeMs: i % 50 })));
    }
    return out;
  };
  assert.equal(run(), run());
});

adaptive('rejects options out of range', () => {
  for (const o of [{ latencyWeight: 0 }, { learningRate: 0 }, { learningRate: 1.5 }, { minExpectedJoins: -1 }, { minPredictedJoins: 0 }, { latencyWeight: Number.NaN }]) {
    assert.throws(() => createAdaptivePolicy(o), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
  }
});

adaptive.run();

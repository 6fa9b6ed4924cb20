// The `adaptive` flush policy: serve early when waiting longer no longer pays.
//
// Waiting a moment dt more lets ≈ y·λ·dt more requests join (λ: arrival rate, y: the share of
// arrivals that really join this slot, learned below); each one is an upstream call saved, worth
// about one upstream p99 of work. It costs every one of the n waiters dt of added latency. So:
//
//   keep waiting while  y · λ · p99  ≥  latencyWeight · n      (r cancels: a marginal rule)
//
// i.e. while more requests are expected within one upstream p99 than (weighted) callers are already
// waiting. Busy targets with slow upstreams batch up to the guards; quiet or fast ones serve at once.
// A second rule uses the time left: if fewer than `minExpectedJoins` are expected before
// `maxWaitMs` (y·λ·(maxWaitMs − age)), waiting only adds latency, so serve now.
//
// Learning: λ is usually measured per target while slots are per key, and traffic is bursty, so the
// raw prediction λ·age over- or under-shoots. Each flushed slot reports how many joined after the
// first waiter against the λ·age predicted; y is an exponentially weighted mean of that ratio.
// Deterministic: the same observations and features give the same decisions.
import { InvalidArgumentError } from '../errors.ts';
import { FlushDecision } from './flush-policy.ts';
import type { FlushFeatures, FlushObservation, FlushPolicy } from './flush-policy.ts';

export interface AdaptiveOptions {
  /** Waiter-latency weight against a saved call (1: one waiter's p99 equals one call). Default 1. */
  readonly latencyWeight?: number;
  /** Serve once fewer joins than this are expected before `maxWaitMs`. Default 1. */
  readonly minExpectedJoins?: number;
  /** Weight of each new observation in the learned join share, in (0, 1]. Default 0.2. */
  readonly learningRate?: number;
  /** Observations predicting fewer joins than this carry too little signal and are skipped. Default 0.5. */
  readonly minPredictedJoins?: number;
}

export const DEFAULT_ADAPTIVE: Required<AdaptiveOptions> = Object.freeze({
  latencyWeight: 1,
  minExpectedJoins: 1,
  learningRate: 0.2,
  minPredictedJoins: 0.5,
});

/** The learned share is kept within these bounds so one odd slot cannot switch batching off or on for good. */
export const JOIN_SHARE_BOUNDS = Object.freeze({ min: 0.05, max: 4 });

export interface AdaptivePolicy extends FlushPolicy {
  observe(observation: FlushObservation): void;
  /** The learned share of predicted arrivals that join (starts at 1), and how many observations taught it. */
  readonly learned: { readonly joinShare: number; readonly observations: number };
}

export function createAdaptivePolicy(options: AdaptiveOptions = {}): AdaptivePolicy {
  const o = { ...DEFAULT_ADAPTIVE, ...options };
  check('latencyWeight', o.latencyWeight, o.latencyWeight > 0);
  check('minExpectedJoins', o.minExpectedJoins, o.minExpectedJoins >= 0);
  check('learningRate', o.learningRate, o.learningRate > 0 && o.learningRate <= 1);
  check('minPredictedJoins', o.minPredictedJoins, o.minPredictedJoins > 0);
  let joinShare = 1;
  let observations = 0;

  return {
    name: 'adaptive',
    get learned() { return { joinShare, observations }; },

    decide(f: FlushFeatures): FlushDecision {
      if (f.queueDepth <= 0) return FlushDecision.Wait; // nobody to serve
      // Until the upstream has answered a few calls there is nothing to weigh: behave like `timer`.
      if (!(f.upstreamP99Ms > 0)) return FlushDecision.Wait;
      const joinRate = joinShare * Math.max(0, f.arrivalRatePerMs);
      const remainingMs = Math.max(0, f.maxWaitMs - f.slotAgeMs);
      if (joinRate * remainingMs < o.minExpectedJoins) return FlushDecision.Serve;
      return joinRate * f.upstreamP99Ms >= o.latencyWeight * f.queueDepth ? FlushDecision.Wait : FlushDecision.Serve;
    },

    observe(m: FlushObservation): void {
      const predicted = Math.max(0, m.arrivalRatePerMs) * Math.max(0, m.slotAgeMs);
      if (!Number.isFinite(predicted) || predicted < o.minPredictedJoins || !(m.batchSize >= 1)) return;
      const ratio = Math.min(JOIN_SHARE_BOUNDS.max, Math.max(JOIN_SHARE_BOUNDS.min, (m.batchSize - 1) / predicted));
      joinShare = (1 - o.learningRate) * joinShare + o.learningRate * ratio;
      observations += 1;
    },
  };
}

function check(name: string, value: number, ok: boolean): void {
  if (!Number.isFinite(value) || !ok) throw new InvalidArgumentError(`adaptive policy: '${name}' is out of range, got ${value}`);
}

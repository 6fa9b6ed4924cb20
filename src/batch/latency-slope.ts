// How much longer an upstream call takes per extra request in its batch: the slope of an
// exponentially weighted least-squares line through (batch size − 1, call latency). The adaptive
// policy charges that slope as latency every batched request pays, so when the upstream slows down
// under bigger batches, the holds shrink. Latency noise easily dwarfs a small slope, so what is
// reported is a lower confidence bound (slope − 2 standard errors, at least 0): an effect is
// charged once the data show it, not because of noise. Immutable values; pure.

export interface LatencySlope {
  /** Exponentially weighted means of x = batch size − 1, y = latency ms, x², x·y. */
  readonly mx: number;
  readonly my: number;
  readonly mxx: number;
  readonly mxy: number;
  readonly myy: number;
  /** Samples folded in (saturates in meaning once 1/weight samples have been seen). */
  readonly samples: number;
}

export const emptySlope: LatencySlope = Object.freeze({ mx: 0, my: 0, mxx: 0, mxy: 0, myy: 0, samples: 0 });

/** Folds in one call: `batchSize` requests answered in `latencyMs`. `weight` in (0, 1]. */
export function recordCall(s: LatencySlope, batchSize: number, latencyMs: number, weight: number): LatencySlope {
  if (!(batchSize >= 1) || !Number.isFinite(latencyMs) || latencyMs < 0) return s;
  const x = batchSize - 1;
  // The first samples weigh more (1/(k+1)) so the estimate does not start biased toward zero.
  const w = Math.max(weight, 1 / (s.samples + 1));
  return {
    mx: s.mx + w * (x - s.mx),
    my: s.my + w * (latencyMs - s.my),
    mxx: s.mxx + w * (x * x - s.mxx),
    mxy: s.mxy + w * (x * latencyMs - s.mxy),
    myy: s.myy + w * (latencyMs * latencyMs - s.myy),
    samples: s.samples + 1,
  };
}

/**
 * Extra ms per extra request in a batch, as a lower confidence bound; 0 until batch sizes have
 * varied enough to tell. `weight` is the one the samples were folded in with: ~2/weight of them
 * carry the estimate.
 */
export function perItemMs(s: LatencySlope, weight: number): number {
  const varX = s.mxx - s.mx * s.mx;
  if (s.samples < 8 || !(varX > 0.25)) return 0;
  const cov = s.mxy - s.mx * s.my;
  const slope = cov / varX;
  const varY = Math.max(0, s.myy - s.my * s.my);
  const residual = Math.max(0, varY - slope * cov);
  const effective = Math.min(s.samples, 2 / weight - 1);
  const stderr = Math.sqrt(residual / (Math.max(1, effective - 2) * varX));
  const bound = slope - 2 * stderr;
  return Number.isFinite(bound) ? Math.max(0, bound) : 0;
}

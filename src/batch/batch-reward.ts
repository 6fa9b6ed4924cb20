// What holding a batch is worth: the reward the `adaptive` policy maximises and the evaluation
// environment reports (docs/policies.md). Pure arithmetic, no clock.
//
// A call carrying n requests costs n^e units, where one request alone costs 1 and the exponent e
// (`batchCostExponent`, 0 ≤ e ≤ 1) says how a batch's cost grows: 0 for coalescing (one call answers
// every identical request), about 0.5 for a merge API whose price grows slower than its batch, 1
// when batching saves nothing. Per request:
//
//   reward = (1 − n^e / n)  −  latencyCostPerMs × addedMs
//            └ upstream cost saved ┘   └ what the added client latency costs ┘
//
// addedMs is what batching added to the request's latency: the time it was held before its call,
// plus what the upstream took longer for carrying n − 1 other requests (`perItemMs` × (n − 1)).
import { InvalidArgumentError } from '../errors.ts';

export interface CostModel {
  /** What one ms of added client latency costs, in units of one lone upstream call. */
  readonly latencyCostPerMs: number;
  /** A batch of n costs n^batchCostExponent; 0 ≤ e ≤ 1. */
  readonly batchCostExponent: number;
}

export function checkCostModel(m: CostModel, where = 'cost model'): void {
  if (!(Number.isFinite(m.latencyCostPerMs) && m.latencyCostPerMs > 0)) {
    throw new InvalidArgumentError(`${where}: 'latencyCostPerMs' must be a positive number, got ${m.latencyCostPerMs}`);
  }
  if (!(m.batchCostExponent >= 0 && m.batchCostExponent <= 1)) {
    throw new InvalidArgumentError(`${where}: 'batchCostExponent' must be within [0, 1], got ${m.batchCostExponent}`);
  }
}

/** Cost of one call carrying `n` requests, in lone-call units. */
export const batchCost = (n: number, exponent: number): number => (n <= 0 ? 0 : n ** exponent);

/** Upstream cost saved per request of a batch of `n` against calling alone. */
export const savedPerRequest = (n: number, exponent: number): number => (n <= 1 ? 0 : 1 - batchCost(n, exponent) / n);

/** One request's reward: its share of the saving less the price of the latency it was given. */
export const requestReward = (m: CostModel, batchSize: number, addedMs: number): number =>
  savedPerRequest(batchSize, m.batchCostExponent) - m.latencyCostPerMs * Math.max(0, addedMs);

/**
 * Expected reward per request of holding every slot `holdMs` under Poisson arrivals at `ratePerMs`
 * (renewal-reward: a slot's expected reward over its expected size). A slot opened by one request
 * gathers N = 1 + Poisson(ρT) requests; the first waits T, the others T/2 on average. The saving
 * uses the mean batch (exact for e = 0, slightly low for 0 < e < 1 by Jensen).
 */
export function expectedHoldReward(m: CostModel, ratePerMs: number, holdMs: number, perItemMs = 0): number {
  const joins = Math.max(0, ratePerMs) * Math.max(0, holdMs);
  const n = 1 + joins;
  const saved = (n - batchCost(n, m.batchCostExponent)) / n;
  const waitPerRequest = (holdMs * (1 + joins / 2)) / n;
  return saved - m.latencyCostPerMs * (waitPerRequest + Math.max(0, perItemMs) * joins);
}

/**
 * The hold within [0, maxMs] that maximises `expectedHoldReward`, searched on a grid fine where
 * holds are short (what fast upstreams want) and refined around the best point.
 */
export function bestHoldMs(m: CostModel, ratePerMs: number, maxMs: number, perItemMs = 0): number {
  if (!(ratePerMs > 0) || !(maxMs > 0)) return 0;
  const reward = (t: number): number => expectedHoldReward(m, ratePerMs, t, perItemMs);
  let best = 0;
  let bestReward = reward(0);
  const steps = 64;
  for (let i = 1; i <= steps; i++) {
    const t = maxMs * (i / steps) ** 2;
    const r = reward(t);
    if (r > bestReward) { best = t; bestReward = r; }
  }
  // One golden-section pass around the grid's best: the curve is unimodal in practice.
  let lo = Math.max(0, best - maxMs / steps), hi = Math.min(maxMs, best + maxMs / steps);
  for (let i = 0; i < 24; i++) {
    const a = hi - (hi - lo) / 1.618, b = lo + (hi - lo) / 1.618;
    if (reward(a) >= reward(b)) hi = b; else lo = a;
  }
  const refined = (lo + hi) / 2;
  return reward(refined) >= bestReward ? refined : best;
}

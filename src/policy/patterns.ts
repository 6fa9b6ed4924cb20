// The traffic patterns the policy environment ships, each a complete scenario: arrivals, the
// upstream's latency (which may change mid-run) and what a batch costs. Named, seeded, pure.
import { InvalidArgumentError } from '../errors.ts';
import { diurnal, onOff, poissonArrivals, zipfSampler, type Arrival, type RateCurve } from './traffic.ts';

export interface Scenario {
  readonly arrivals: readonly Arrival[];
  /** Upstream latency of a lone call started at `t` ms into the run; draws from `random`. */
  readonly latencyMs: (t: number, random: () => number) => number;
  /** What each extra request in a batch adds to the call's latency, at `t`. */
  readonly perItemMs: (t: number) => number;
  /** 0 for coalescing (one call answers every identical request), 0.5 for a merge API. */
  readonly batchCostExponent: number;
}

export interface PatternSpec {
  readonly description: string;
  build(durationMs: number, random: () => number): Scenario;
}

/** A log-normal latency around `medianMs` (σ = 0.25, Box–Muller): most calls near the median, a tail to the right. */
export const logNormalLatency = (medianMs: number) => (random: () => number): number => {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return medianMs * Math.exp(0.25 * z);
};

const oneKey = (times: number[], key = 'batch'): Arrival[] => times.map((at) => ({ at, key }));
const MERGE_COST = 0.5;

function curveScenario(curve: RateCurve, peak: number, latencyMs: Scenario['latencyMs']) {
  return (durationMs: number, random: () => number): Scenario => ({
    arrivals: oneKey(poissonArrivals(curve, peak, durationMs, random)),
    latencyMs,
    perItemMs: () => STEADY_PER_ITEM_MS,
    batchCostExponent: MERGE_COST,
  });
}

const steadyLatency = logNormalLatency(80);
/** A healthy batch API: each extra item costs it a twentieth of a millisecond. */
const STEADY_PER_ITEM_MS = 0.05;

export const PATTERNS: Readonly<Record<string, PatternSpec>> = Object.freeze({
  steady: {
    description: 'merge batching, Poisson at 300 requests/s, upstream ~80 ms',
    build: curveScenario(() => 0.3, 0.3, (_t, r) => steadyLatency(r)),
  },
  bursts: {
    description: 'merge batching, on/off: 1 500/s for 300 ms, then 10/s for 1.7 s',
    build: curveScenario(onOff(300, 1_700, 1.5, 0.01), 1.5, (_t, r) => steadyLatency(r)),
  },
  diurnal: {
    description: 'merge batching, a day in the run: 5/s at night to 600/s at noon',
    build: (durationMs, random) => curveScenario(diurnal(durationMs, 0.005, 0.6), 0.6, (_t, r) => steadyLatency(r))(durationMs, random),
  },
  zipf: {
    description: 'coalescing, 2 000 keys with Zipf(1.1) popularity at 800 requests/s in all',
    build: (durationMs, random) => {
      const pick = zipfSampler(2_000, 1.1, random);
      const times = poissonArrivals(() => 0.8, 0.8, durationMs, random);
      return { arrivals: times.map((at) => ({ at, key: `k${pick()}` })), latencyMs: (_t, r) => steadyLatency(r), perItemMs: () => 0, batchCostExponent: 0 };
    },
  },
  shift: {
    description: 'merge batching, regime change at half time: 300/s steady, then bursty (as `bursts`) with the upstream slowed to +1 ms per batched item',
    build: (durationMs, random) => {
      const half = durationMs / 2;
      const bursty = onOff(300, 1_700, 1.5, 0.01);
      const curve: RateCurve = (t) => (t < half ? 0.3 : bursty(t));
      return {
        arrivals: oneKey(poissonArrivals(curve, 1.5, durationMs, random)),
        latencyMs: (_t, r) => steadyLatency(r),
        perItemMs: (t) => (t < half ? STEADY_PER_ITEM_MS : 1),
        batchCostExponent: MERGE_COST,
      };
    },
  },
});

export function patternNamed(name: string): PatternSpec {
  const p = PATTERNS[name];
  if (!p) throw new InvalidArgumentError(`unknown traffic pattern '${name}'; choose from ${Object.keys(PATTERNS).join(', ')}`);
  return p;
}

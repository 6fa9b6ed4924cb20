// The `adaptive` flush policy: hold each slot for the time that maximises the reward of
// batch-reward.ts at the rate its key is arriving now, and learn how far that rate misleads.
//
// For a key arriving at ρ per ms, holding a slot T ms buys ρT joins (saved upstream cost) and
// costs every waiter latency; `bestHoldMs` finds the T with the best expected reward per request.
// Busy keys are held (longer for costlier latency-free batches), quiet keys served at once, and the
// hold follows the traffic as it changes, where a fixed `maxWaitMs` is right for one rate only.
//
// What it learns, online and per target:
//  - each key's arrival rate: a time-decayed count (ewma.ts) per key, the hottest `maxKeys` kept;
//  - the join share y: how many requests really joined a flushed slot against the ρ·age predicted.
//    Bursty traffic, rates that just moved and keys that share a slot make the raw prediction over-
//    or under-shoot; y (an exponentially weighted mean of observed / predicted) scales ρ to match;
//  - the upstream's latency per batched request (latency-slope.ts), from each call's outcome: when
//    the upstream slows down under bigger batches, every batched request pays it, so holds shrink.
// The share and the slope are the state other nodes start from (`exportState` / `loadState`): a
// node that joins the cluster uses its peers' until its own observations outweigh them.
// Deterministic: the same arrivals and observations give the same decisions.
import { InvalidArgumentError } from '../errors.ts';
import { bestHoldMs, checkCostModel, type CostModel } from './batch-reward.ts';
import { arrivalRate, ratePerMs, recordArrivals, type ArrivalRate } from './ewma.ts';
import { FlushDecision } from './flush-policy.ts';
import type { FlushFeatures, FlushObservation, FlushOutcome, FlushPolicy } from './flush-policy.ts';
import { emptySlope, perItemMs, recordCall, type LatencySlope } from './latency-slope.ts';

export interface AdaptiveOptions extends Partial<CostModel> {
  /** Weight of each new observation in the learned join share, in (0, 1]. Default 0.05. */
  readonly learningRate?: number;
  /** Half-life of each key's arrival-rate estimate. Default 250 ms. */
  readonly rateHalfLifeMs?: number;
  /** Keys whose rates are tracked; the least recently seen beyond this are forgotten. Default 4096. */
  readonly maxKeys?: number;
}

export const DEFAULT_ADAPTIVE = Object.freeze({
  latencyCostPerMs: 0.01,
  batchCostExponent: 0,
  learningRate: 0.05,
  rateHalfLifeMs: 250,
  maxKeys: 4096,
});

/** The learned share is kept within these bounds so one odd slot cannot switch batching off or on for good. */
export const JOIN_SHARE_BOUNDS = Object.freeze({ min: 0.05, max: 4 });

/** Below this many predicted joins an observation carries too little signal to learn from. */
const MIN_PREDICTED_JOINS = 0.5;
/** Weight of each call in the latency slope: ~200 calls carry it (noise is large, effects small). */
const SLOPE_WEIGHT = 0.01;
/** Observations a loaded state is worth at most: a peer's share warms a node, it does not pin it. */
const MAX_LOADED_OBSERVATIONS = 200;

/** What the policy has learned, as read and loaded at `/_sluice/targets/<name>/policy` and over the bus. */
export interface AdaptiveState {
  readonly v: 1;
  readonly policy: 'adaptive';
  readonly joinShare: number;
  readonly observations: number;
  /** Learned upstream ms per extra batched request (derived from `latency`, for reading). */
  readonly perItemMs: number;
  readonly latency: LatencySlope;
  readonly latencyCostPerMs: number;
  readonly batchCostExponent: number;
}

export interface AdaptivePolicy extends FlushPolicy {
  /** A request for `key` arrived at `now` (epoch ms): feeds the key's rate. */
  arrived(key: string, now: number): void;
  /** How old a slot with these features should get before it is served. */
  holdMs(f: FlushFeatures): number;
  observe(observation: FlushObservation): void;
  /** A flushed slot's call ended: teaches the latency per batched request. */
  outcome(outcome: FlushOutcome): void;
  readonly learned: { readonly joinShare: number; readonly observations: number; readonly perItemMs: number; readonly keys: number };
  exportState(): AdaptiveState;
  /** Blends a peer's (or an operator's) state into this one; throws InvalidArgumentError on a bad one. */
  loadState(state: unknown, mode?: 'replace' | 'blend'): void;
}

export function createAdaptivePolicy(options: AdaptiveOptions = {}): AdaptivePolicy {
  const o = { ...DEFAULT_ADAPTIVE, ...options };
  const model: CostModel = { latencyCostPerMs: o.latencyCostPerMs, batchCostExponent: o.batchCostExponent };
  checkCostModel(model, 'adaptive policy');
  check('learningRate', o.learningRate, o.learningRate > 0 && o.learningRate <= 1);
  check('rateHalfLifeMs', o.rateHalfLifeMs, o.rateHalfLifeMs > 0);
  check('maxKeys', o.maxKeys, Number.isSafeInteger(o.maxKeys) && o.maxKeys > 0);
  const rates = new Map<string, ArrivalRate>(); // insertion order = least recently seen first
  const holds = new Map<string, number>(); // bestHoldMs by rate bucket and maxWaitMs
  let joinShare = 1;
  let observations = 0;
  let slope: LatencySlope = emptySlope;
  let itemMs = 0;

  const keyRate = (key: string | undefined, now: number | undefined, fallback: number): number => {
    if (key === undefined || now === undefined) return Math.max(0, fallback);
    const r = rates.get(key);
    return r ? ratePerMs(r, now) : 0;
  };

  const holdFor = (rate: number, maxWaitMs: number): number => {
    if (!(rate > 0) || !(maxWaitMs > 0)) return 0;
    // Rates and slopes within ~3% share an answer: the search runs once per bucket, not per decision.
    const rateStep = Math.round(Math.log2(rate) * 24);
    const slopeStep = Math.round(Math.log2(1 + itemMs * 100) * 24);
    const bucket = `${rateStep}:${slopeStep}:${maxWaitMs}`;
    let hold = holds.get(bucket);
    if (hold === undefined) {
      if (holds.size >= 4096) holds.clear();
      hold = bestHoldMs(model, 2 ** (rateStep / 24), maxWaitMs, (2 ** (slopeStep / 24) - 1) / 100);
      holds.set(bucket, hold);
    }
    return hold;
  };

  const policy: AdaptivePolicy = {
    name: 'adaptive',
    get learned() { return { joinShare, observations, perItemMs: itemMs, keys: rates.size }; },

    arrived(key: string, now: number): void {
      const r = rates.get(key);
      if (r) rates.delete(key); // re-inserted last: most recently seen
      else if (rates.size >= o.maxKeys) rates.delete(rates.keys().next().value as string);
      rates.set(key, recordArrivals(r ?? arrivalRate(o.rateHalfLifeMs, now), now));
    },

    holdMs(f: FlushFeatures): number {
      return holdFor(joinShare * keyRate(f.key, f.now, f.arrivalRatePerMs), f.maxWaitMs);
    },

    decide(f: FlushFeatures): FlushDecision {
      if (f.queueDepth <= 0) return FlushDecision.Wait; // nobody to serve
      return f.slotAgeMs >= policy.holdMs(f) ? FlushDecision.Serve : FlushDecision.Wait;
    },

    observe(m: FlushObservation): void {
      const rate = keyRate(m.key, m.now, m.arrivalRatePerMs);
      const predicted = rate * Math.max(0, m.slotAgeMs);
      if (!Number.isFinite(predicted) || predicted < MIN_PREDICTED_JOINS || !(m.batchSize >= 1)) return;
      const ratio = clampShare((m.batchSize - 1) / predicted);
      joinShare = (1 - o.learningRate) * joinShare + o.learningRate * ratio;
      observations += 1;
    },

    outcome(m: FlushOutcome): void {
      if (m.failed) return; // a failure's latency says nothing about batch size
      slope = recordCall(slope, m.batchSize, m.upstreamMs, SLOPE_WEIGHT);
      itemMs = perItemMs(slope, SLOPE_WEIGHT);
    },

    exportState: () => ({ v: 1, policy: 'adaptive', joinShare, observations, perItemMs: itemMs, latency: slope, ...model }),

    loadState(state: unknown, mode: 'replace' | 'blend' = 'replace'): void {
      const s = parseAdaptiveState(state);
      if (mode === 'replace' || observations === 0) {
        joinShare = s.joinShare;
        observations = Math.min(s.observations, MAX_LOADED_OBSERVATIONS);
        slope = { ...s.latency, samples: Math.min(s.latency.samples, MAX_LOADED_OBSERVATIONS) };
        itemMs = perItemMs(slope, SLOPE_WEIGHT);
        return;
      }
      // Blend by evidence: a peer's share counts as many observations as it has (capped).
      const theirs = Math.min(s.observations, MAX_LOADED_OBSERVATIONS);
      if (theirs === 0) return;
      joinShare = clampShare((joinShare * observations + s.joinShare * theirs) / (observations + theirs));
      observations = Math.max(observations, theirs);
    },
  };
  return policy;
}

/** Validates a learned state from outside (admin API, bus); names the first bad field. */
export function parseAdaptiveState(raw: unknown): AdaptiveState {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError('adaptive state: expected an object');
  const s = raw as Record<string, unknown>;
  if (s['v'] !== 1) throw new InvalidArgumentError(`adaptive state: 'v' must be 1, got ${JSON.stringify(s['v'])}`);
  const share = s['joinShare'];
  if (typeof share !== 'number' || !(share >= JOIN_SHARE_BOUNDS.min && share <= JOIN_SHARE_BOUNDS.max)) {
    throw new InvalidArgumentError(`adaptive state: 'joinShare' must be within [${JOIN_SHARE_BOUNDS.min}, ${JOIN_SHARE_BOUNDS.max}], got ${JSON.stringify(share)}`);
  }
  const obs = s['observations'];
  if (typeof obs !== 'number' || !Number.isSafeInteger(obs) || obs < 0) {
    throw new InvalidArgumentError(`adaptive state: 'observations' must be a non-negative integer, got ${JSON.stringify(obs)}`);
  }
  const latency = parseSlope(s['latency']);
  return {
    v: 1, policy: 'adaptive', joinShare: share, observations: obs, latency, perItemMs: perItemMs(latency, SLOPE_WEIGHT),
    latencyCostPerMs: typeof s['latencyCostPerMs'] === 'number' ? s['latencyCostPerMs'] : Number.NaN,
    batchCostExponent: typeof s['batchCostExponent'] === 'number' ? s['batchCostExponent'] : Number.NaN,
  };
}

function parseSlope(raw: unknown): LatencySlope {
  if (raw === undefined) return emptySlope;
  const l = raw as Record<string, unknown>;
  const fields = ['mx', 'my', 'mxx', 'mxy', 'myy', 'samples'] as const;
  for (const f of fields) {
    if (typeof l?.[f] !== 'number' || !Number.isFinite(l[f]) || (l[f] as number) < 0) {
      throw new InvalidArgumentError(`adaptive state: 'latency.${f}' must be a non-negative number, got ${JSON.stringify(l?.[f])}`);
    }
  }
  return { mx: l['mx'] as number, my: l['my'] as number, mxx: l['mxx'] as number, mxy: l['mxy'] as number, myy: l['myy'] as number, samples: Math.floor(l['samples'] as number) };
}

const clampShare = (x: number): number => Math.min(JOIN_SHARE_BOUNDS.max, Math.max(JOIN_SHARE_BOUNDS.min, x));

function check(name: string, value: number, ok: boolean): void {
  if (!Number.isFinite(value) || !ok) throw new InvalidArgumentError(`adaptive policy: '${name}' is out of range, got ${value}`);
}

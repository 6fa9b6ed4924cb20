// The policy evaluation: every pattern × policy over several seeds, averaged into one row each.
// Fixed timers are named `timer:<ms>` (policy `timer` with that `maxWaitMs`); the learned one is
// `adaptive`, run with the largest timer as its `maxWaitMs` guard. Same seeds for every policy, so
// they face the same arrivals and the same upstream draws.
import { createAdaptivePolicy, timerPolicy } from '../batch/index.ts';
import type { SlotPolicy } from '../actors/batch-registry.ts';
import { seeded } from '../random.ts';
import { Episode, type EpisodeResult } from './episode.ts';
import { patternNamed, PATTERNS } from './patterns.ts';

export const TIMER_SWEEP_MS: readonly number[] = Object.freeze([0, 1, 2, 5, 10, 20, 50, 100]);
export const DEFAULT_LATENCY_COST_PER_MS = 0.01;

export interface PolicyRow {
  readonly pattern: string;
  readonly policy: string;
  readonly callsPer1000: number;
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  readonly reward: number;
}

export interface EvaluationOptions {
  readonly patterns?: readonly string[];
  readonly policies?: readonly string[];
  readonly seeds?: readonly number[];
  readonly durationMs?: number;
  readonly latencyCostPerMs?: number;
  readonly maxBatchSize?: number;
  /** Called after each row, for progress lines. */
  readonly onRow?: (row: PolicyRow) => void;
}

export const defaultPolicies = (): string[] => [...TIMER_SWEEP_MS.map((ms) => `timer:${ms}`), 'adaptive'];

export interface PolicyBuild { readonly policy: SlotPolicy; readonly maxWaitMs: number }

/** `timer:<ms>` or `adaptive`, for a scenario whose batches cost n^exponent. */
export function buildPolicy(name: string, batchCostExponent: number, latencyCostPerMs: number): PolicyBuild {
  if (name === 'adaptive') {
    return { policy: createAdaptivePolicy({ latencyCostPerMs, batchCostExponent, ...(process.env['HL'] ? { rateHalfLifeMs: Number(process.env['HL']) } : {}) }), maxWaitMs: Math.max(...TIMER_SWEEP_MS) };
  }
  const m = /^timer:(\d+(?:\.\d+)?)$/.exec(name);
  if (!m) throw new Error(`unknown policy '${name}': use timer:<ms> or adaptive`);
  return { policy: timerPolicy, maxWaitMs: Number(m[1]) };
}

export async function runOne(pattern: string, policyName: string, seed: number, o: EvaluationOptions = {}): Promise<EpisodeResult> {
  const durationMs = o.durationMs ?? 60_000;
  const latencyCostPerMs = o.latencyCostPerMs ?? DEFAULT_LATENCY_COST_PER_MS;
  const scenario = patternNamed(pattern).build(durationMs, seeded(seed));
  const { policy, maxWaitMs } = buildPolicy(policyName, scenario.batchCostExponent, latencyCostPerMs);
  const episode = new Episode({
    scenario, random: seeded(seed ^ 0x5eed), policy, maxWaitMs, maxBatchSize: o.maxBatchSize ?? 128, latencyCostPerMs,
  });
  return episode.run();
}

export async function evaluatePolicies(o: EvaluationOptions = {}): Promise<PolicyRow[]> {
  const patterns = o.patterns ?? Object.keys(PATTERNS);
  const policies = o.policies ?? defaultPolicies();
  const seeds = o.seeds ?? [1, 2, 3];
  const rows: PolicyRow[] = [];
  for (const pattern of patterns) {
    for (const policy of policies) {
      const runs: EpisodeResult[] = [];
      for (const seed of seeds) runs.push(await runOne(pattern, policy, seed, o));
      const mean = (f: (r: EpisodeResult) => number): number => runs.reduce((s, r) => s + f(r), 0) / runs.length;
      const row: PolicyRow = {
        pattern, policy,
        callsPer1000: mean((r) => r.callsPer1000),
        addedP50Ms: mean((r) => r.addedP50Ms),
        addedP99Ms: mean((r) => r.addedP99Ms),
        reward: mean((r) => r.reward),
      };
      rows.push(row);
      o.onRow?.(row);
    }
  }
  return rows;
}

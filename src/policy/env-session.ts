// The policy environment served to external learners, one decision at a time (a Gymnasium-style
// reset/step loop). Each step answers the slot that is waiting for a decision; the reward is what
// the requests answered since the previous step earned (batch-reward.ts), so an episode's rewards
// sum to its total. The registry's guards hold whatever the learner answers.
import { FlushDecision, type FlushFeatures } from '../batch/index.ts';
import type { SlotPolicy } from '../actors/batch-registry.ts';
import { seeded } from '../random.ts';
import { Episode, type EpisodeResult } from './episode.ts';
import type { Scenario } from './patterns.ts';

export interface Observation {
  readonly queueDepth: number;
  readonly arrivalRatePerMs: number;
  readonly slotAgeMs: number;
  /** null until the upstream has answered. */
  readonly upstreamP99Ms: number | null;
  readonly maxWaitMs: number;
  readonly maxBatchSize: number;
}

export interface StepResult {
  /** The next decision's features; null once the episode is done. */
  readonly observation: Observation | null;
  readonly reward: number;
  readonly done: boolean;
  readonly info: { readonly requests: number; readonly calls: number; readonly answered: number; readonly result?: EpisodeResult };
}

export interface SessionOptions {
  readonly scenario: Scenario;
  readonly seed: number;
  readonly maxWaitMs: number;
  readonly maxBatchSize: number;
  readonly latencyCostPerMs: number;
}

interface Pending { readonly features: FlushFeatures; readonly resolve: (d: FlushDecision) => void }

export class EnvSession {
  private readonly pending: Pending[] = [];
  private readonly episode: Episode;
  private paidOut = 0;
  private finished = false;

  constructor(o: SessionOptions) {
    // Decisions wait on the learner: the registry asks and the step answers.
    const policy: SlotPolicy = {
      name: 'external',
      decide: (features) => new Promise<FlushDecision>((resolve) => { this.pending.push({ features, resolve }); }),
    };
    this.episode = new Episode({
      scenario: o.scenario, random: seeded(o.seed ^ 0x5eed), policy,
      maxWaitMs: o.maxWaitMs, maxBatchSize: o.maxBatchSize, latencyCostPerMs: o.latencyCostPerMs,
    });
  }

  /** Runs to the first decision. */
  reset(): Promise<StepResult> { return this.advance(); }

  /** Answers the waiting decision and runs to the next one (or the end). */
  step(action: FlushDecision): Promise<StepResult> {
    const p = this.pending.shift();
    p?.resolve(action);
    return this.advance();
  }

  private async advance(): Promise<StepResult> {
    if (!this.finished) this.finished = await this.episode.runUntil(() => this.pending.length > 0);
    const earned = this.episode.earned;
    const reward = earned.sum - this.paidOut;
    this.paidOut = earned.sum;
    const result = this.episode.result();
    const next = this.pending[0];
    return {
      observation: next ? observe(next.features) : null,
      reward,
      done: this.finished,
      info: { requests: result.requests, calls: result.calls, answered: earned.count, ...(this.finished ? { result } : {}) },
    };
  }
}

const observe = (f: FlushFeatures): Observation => ({
  queueDepth: f.queueDepth, arrivalRatePerMs: f.arrivalRatePerMs, slotAgeMs: f.slotAgeMs,
  upstreamP99Ms: f.upstreamP99Ms > 0 ? f.upstreamP99Ms : null, maxWaitMs: f.maxWaitMs, maxBatchSize: f.maxBatchSize,
});

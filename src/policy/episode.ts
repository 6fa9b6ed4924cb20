// One run of the policy environment: the real batch registry and slot machines on a virtual clock,
// fed a scenario's arrivals, calling a simulated upstream, with a flush policy deciding. It records
// what each request was given (its batch size and the time it was held before its call) and scores
// it with the reward of batch-reward.ts. Runs straight through (`run`) or pauses whenever the policy
// is waiting for an answer (`runUntilDecision`), which is how external learners step it.
import { VirtualClock } from '../clock.ts';
import { BatchRegistry, type BatchExecutor, type SlotPolicy } from '../actors/batch-registry.ts';
import { requestReward, type BatchKey, type CostModel, type FlushOutcome } from '../batch/index.ts';
import type { Scenario } from './patterns.ts';

export interface EpisodeOptions {
  readonly scenario: Scenario;
  /** Draws for the upstream's latencies (the scenario's arrivals are already drawn). */
  readonly random: () => number;
  readonly policy: SlotPolicy;
  readonly maxWaitMs: number;
  readonly maxBatchSize: number;
  readonly latencyCostPerMs: number;
  readonly onOutcome?: (outcome: FlushOutcome) => void;
}

export interface EpisodeResult {
  readonly requests: number;
  readonly calls: number;
  readonly callsPer1000: number;
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  /** Mean reward per request. */
  readonly reward: number;
  /** Requests answered more than once (must be 0) and never (must be 0). */
  readonly answeredTwice: number;
  readonly unanswered: number;
  /** The longest any request was held before its call, and the biggest batch: what the guards bound. */
  readonly maxHoldMs: number;
  readonly maxBatch: number;
}

interface Waiter { readonly index: number; readonly arrivedAt: number }
interface CallReply { readonly startedAt: number }

/** Microtask hops that let the registry's promise chains (call → reply → machine) run to the end. */
const MICROTASK_HOPS = 6;

export class Episode {
  readonly clock = new VirtualClock(0);
  private readonly deferred: Array<() => void> = [];
  private readonly registry: BatchRegistry<Waiter, CallReply>;
  private readonly added: Float64Array;
  private readonly batchSize: Uint32Array;
  private readonly answers: Uint8Array;
  private readonly model: CostModel;
  private next = 0;
  private calls = 0;
  private maxHoldMs = 0;
  private maxBatch = 0;
  private rewardSum = 0;
  private rewarded = 0;

  constructor(private readonly o: EpisodeOptions) {
    const n = o.scenario.arrivals.length;
    this.added = new Float64Array(n);
    this.batchSize = new Uint32Array(n);
    this.answers = new Uint8Array(n);
    this.model = { latencyCostPerMs: o.latencyCostPerMs, batchCostExponent: o.scenario.batchCostExponent };
    this.registry = new BatchRegistry<Waiter, CallReply>({
      clock: this.clock, maxWaitMs: o.maxWaitMs, maxBatchSize: o.maxBatchSize, policy: o.policy,
      executor: this.executor(), afterTurn: (fn) => { this.deferred.push(fn); },
      ...(o.onOutcome ? { hooks: { onOutcome: o.onOutcome } } : {}),
    });
  }

  /** Reward earned by answered requests so far (sum, and how many). */
  get earned(): { readonly sum: number; readonly count: number } { return { sum: this.rewardSum, count: this.rewarded }; }

  /** Runs to the end: every arrival joined and every slot answered. */
  async run(): Promise<EpisodeResult> {
    await this.runUntil(() => false);
    return this.result();
  }

  /**
   * Advances until `stop()` holds after an event (returns false) or the run is over (true).
   * Events are taken in time order: an arrival before a timer due at the same instant.
   */
  async runUntil(stop: () => boolean): Promise<boolean> {
    const arrivals = this.o.scenario.arrivals;
    for (;;) {
      await this.settle();
      if (stop()) return false;
      const arrival = arrivals[this.next];
      const timerAt = this.clock.nextAt();
      if (arrival && (timerAt === undefined || arrival.at <= timerAt)) {
        this.clock.advanceTo(arrival.at);
        const index = this.next++;
        this.registry.join(arrival.key as BatchKey, { index, arrivedAt: arrival.at });
      } else if (timerAt !== undefined) {
        this.clock.advanceTo(timerAt);
      } else {
        return true;
      }
    }
  }

  result(): EpisodeResult {
    const n = this.o.scenario.arrivals.length;
    let answeredTwice = 0, unanswered = 0;
    for (let i = 0; i < n; i++) {
      if (this.answers[i] === 0) unanswered++;
      else if (this.answers[i]! > 1) answeredTwice++;
    }
    const sorted = Float64Array.from(this.added).sort();
    const q = (p: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]!);
    return {
      requests: n, calls: this.calls, callsPer1000: n === 0 ? 0 : (1000 * this.calls) / n,
      addedP50Ms: q(0.5), addedP99Ms: q(0.99),
      reward: this.rewarded === 0 ? 0 : this.rewardSum / this.rewarded,
      answeredTwice, unanswered, maxHoldMs: this.maxHoldMs, maxBatch: this.maxBatch,
    };
  }

  /** Runs what the registry deferred and the promise chains it started, until nothing moves. */
  private async settle(): Promise<void> {
    for (;;) {
      for (let i = 0; i < MICROTASK_HOPS; i++) await undefined;
      if (this.deferred.length === 0) return;
      for (const fn of this.deferred.splice(0)) fn();
    }
  }

  private executor(): BatchExecutor<Waiter, CallReply> {
    return {
      call: (batch) => {
        const startedAt = this.clock.now();
        this.calls++;
        // What batching cost each request: its hold, and the time the upstream spent on the others.
        const batchDelay = this.o.scenario.perItemMs(startedAt) * (batch.length - 1);
        this.maxBatch = Math.max(this.maxBatch, batch.length);
        for (const w of batch) {
          this.maxHoldMs = Math.max(this.maxHoldMs, startedAt - w.arrivedAt);
          this.added[w.index] = startedAt - w.arrivedAt + batchDelay;
          this.batchSize[w.index] = batch.length;
        }
        const latency = Math.max(0, this.o.scenario.latencyMs(startedAt, this.o.random)) + batchDelay;
        return new Promise<CallReply>((resolve) => { this.clock.setTimeout(() => resolve({ startedAt }), latency); });
      },
      fanOut: (_reply, present) => {
        for (const w of present) this.answer(w);
      },
      fail: (_error, present) => {
        for (const w of present) this.answer(w);
      },
    };
  }

  private answer(w: Waiter): void {
    this.answers[w.index] = (this.answers[w.index] ?? 0) + 1;
    if (this.answers[w.index] !== 1) return;
    this.rewardSum += requestReward(this.model, this.batchSize[w.index]!, this.added[w.index]!);
    this.rewarded++;
  }
}

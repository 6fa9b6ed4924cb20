// When a waiting slot should be served. A policy answers WAIT or SERVE from a few features; the
// guards hold whatever it says: no slot waits past `maxWaitMs` or grows past `maxBatchSize`. The
// registry asks on every join (and may ask on a tick); the `maxWaitMs` timer is its own flush.
// Policies here are synchronous and pure; the `agent` policy (an external decider over the bus with
// a deadline) lives with the actors and falls back to these guards when nobody answers.

export const FlushDecision = { Wait: 'WAIT', Serve: 'SERVE' } as const;
export type FlushDecision = (typeof FlushDecision)[keyof typeof FlushDecision];

export interface FlushFeatures {
  /** Waiters in the slot now, the one just joined included. */
  readonly queueDepth: number;
  /** Recent arrivals per ms for the target (see `ewma.ts`). */
  readonly arrivalRatePerMs: number;
  /** Time since the slot opened. */
  readonly slotAgeMs: number;
  /** Recent upstream p99 latency; NaN or ≤ 0 when not yet known. */
  readonly upstreamP99Ms: number;
  readonly maxWaitMs: number;
  readonly maxBatchSize: number;
  /** The slot's batch key, for policies that learn per key. */
  readonly key?: string;
  /** Epoch ms of the decision, from the registry's clock. */
  readonly now?: number;
}

/** What the registry reports when a slot flushes, for policies that learn. */
export interface FlushObservation {
  /** Waiters in the upstream call. */
  readonly batchSize: number;
  /** How long the slot was open when it flushed. */
  readonly slotAgeMs: number;
  /** The arrival rate the decisions saw, at flush. */
  readonly arrivalRatePerMs: number;
  readonly key?: string;
  /** Epoch ms of the flush. */
  readonly now?: number;
}

/** What happened to a flushed slot's call: the outcome a learner is rewarded on (telemetry). */
export interface FlushOutcome extends FlushObservation {
  /** How long the upstream call took. */
  readonly upstreamMs: number;
  /** Mean time the batch's requests waited in the slot before the call started. */
  readonly meanHoldMs: number;
  readonly failed: boolean;
  /** What flushed the slot: `timer`, `size`, `policy` or `shutdown`. */
  readonly reason?: string;
}

export interface FlushPolicy {
  readonly name: string;
  decide(features: FlushFeatures): FlushDecision;
  observe?(observation: FlushObservation): void;
  /** A flushed slot's call ended (policies that learn from outcomes). */
  outcome?(outcome: FlushOutcome): void;
  /** A request for `key` arrived (policies that track per-key rates). */
  arrived?(key: string, now: number): void;
  /**
   * How old this slot should get before it is served, when the policy knows: the registry then
   * sets one timer for it instead of asking on a tick.
   */
  holdMs?(features: FlushFeatures): number;
}

/** Which guard forces a flush, named as the slot's flush reason; undefined when neither does. */
export function guard(f: FlushFeatures): 'size' | 'timer' | undefined {
  if (f.queueDepth >= f.maxBatchSize) return 'size';
  if (f.slotAgeMs >= f.maxWaitMs) return 'timer';
  return undefined;
}

/** The policy's answer, overridden to SERVE whenever a guard holds. */
export const decideWithGuards = (policy: FlushPolicy, f: FlushFeatures): FlushDecision =>
  guard(f) !== undefined ? FlushDecision.Serve : policy.decide(f);

/** Guards only: a slot serves when it is full or its `maxWaitMs` is up. */
export const timerPolicy: FlushPolicy = Object.freeze({ name: 'timer', decide: () => FlushDecision.Wait });

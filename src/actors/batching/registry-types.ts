// The registry's contracts: what a batch executor does, what a waiter holds, what the registry tells
// its listeners and hooks. Kept apart from batch-registry.ts so modes (coalesce, merge) and tests
// depend on these few types rather than on the registry's workings.
import type { Clock } from '../../clock.ts';
import type { BatchKey, FlushDecision, FlushFeatures, FlushObservation, FlushOutcome } from '../../batch/index.ts';
import type { FlushReason, SlotOutcome } from '../../machines/batch-slot.ts';

/** A flush policy as the registry asks it: `agent` answers asynchronously, the built-ins at once. */
export interface SlotPolicy {
  readonly name: string;
  decide(features: FlushFeatures): FlushDecision | PromiseLike<FlushDecision>;
  observe?(observation: FlushObservation): void;
  arrived?(key: string, now: number): void;
  outcome?(outcome: FlushOutcome): void;
  holdMs?(features: FlushFeatures): number;
}

export interface SlotInfo {
  readonly slotId: string;
  readonly key: BatchKey;
  /** Waiters in the upstream call (frozen at flush). */
  readonly size: number;
}

/** The `X-Sluice-Batch` value of answers from this slot: `<slot id>; size=<n>`. */
export const batchHeaderValue = (slot: SlotInfo): string => `${slot.slotId}; size=${slot.size}`;

export interface FanOutResult {
  /** Waiters the executor sent upstream on their own instead of sharing the reply. */
  readonly alone: number;
  /** The reply may not be shared: pass this key through uncoalesced for `uncoalescedTtlMs`. */
  readonly uncoalesce: boolean;
}

/** What a batch means. `P` is one waiter's payload, `R` what the one upstream call resolves with. */
export interface BatchExecutor<P, R> {
  /** The one upstream call for `batch` (join order). A rejection becomes every waiter's failure. */
  call(batch: readonly P[], signal: AbortSignal, slot: SlotInfo): Promise<R>;
  /** Answers `present`, the waiters still owed an answer (join order; possibly none). */
  fanOut(reply: R, present: readonly P[], slot: SlotInfo): FanOutResult | void;
  /** Answers every one of `present` with the same failure. */
  fail(error: unknown, present: readonly P[], slot: SlotInfo): void;
}

export interface WaiterTicket {
  readonly waiterId: string;
  readonly slotId: string;
  /** The waiter's request went into an upstream call (it was in the slot at flush). */
  readonly inCall: boolean;
  /** The waiter has been answered elsewhere (deadline, disconnect): forget it. Idempotent. */
  leave(): void;
}

export type RegistryEvent =
  | { type: 'waiter.joined'; slotId: string; waiterId: string; key: BatchKey }
  | { type: 'waiter.left'; slotId: string; waiterId: string }
  | { type: 'slot.flushed'; slotId: string; key: BatchKey; reason: FlushReason; size: number }
  | { type: 'slot.done'; slotId: string; key: BatchKey; outcome: SlotOutcome; size: number };

export interface BatchRegistryHooks {
  /** Observability: flushes, slot ends, calls saved (the registry never needs these to work). */
  onFlush?(reason: FlushReason, size: number): void;
  onSlotDone?(outcome: SlotOutcome, saved: number): void;
  /** A fault in an executor or policy that was contained; the waiters were still answered. */
  onFault?(what: string, error: unknown): void;
  /** A flushed slot's call ended: its features, batch and outcome (policy telemetry). */
  onOutcome?(outcome: FlushOutcome): void;
}

export interface BatchRegistryOptions<P, R> {
  readonly clock: Clock;
  readonly maxWaitMs: number;
  readonly maxBatchSize: number;
  readonly policy: SlotPolicy;
  readonly executor: BatchExecutor<P, R>;
  /** How often waiting slots are re-asked (not for `timer`, which only has guards). Default: maxWaitMs/4 within 1…5 ms. */
  readonly tickMs?: number;
  /** How long a key whose reply was private passes through uncoalesced. Default 10 s. */
  readonly uncoalescedTtlMs?: number;
  /** Half-life of the arrival-rate estimate fed to the policy. Default 250 ms. */
  readonly rateHalfLifeMs?: number;
  readonly hooks?: BatchRegistryHooks;
  /**
   * Runs `fn` once the I/O already waiting has been read (default: setImmediate). Simulations pass
   * their own so a virtual clock drives the whole registry.
   */
  readonly defer?: (fn: () => void) => void;
}

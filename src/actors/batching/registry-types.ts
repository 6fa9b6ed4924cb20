// The registry's contracts: what a batch executor does, what a waiter holds, what the registry tells
// its listeners and hooks. Kept apart from batch-registry.ts so modes (coalesce, merge) and tests
// depend on these few types rather than on the registry's workings.
import type { Clock, Scheduler } from '../../clock.ts';
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
  /**
   * Clients the call has answered so far: those in it at flush, joiners before the head and, for a
   * late joiner, every joiner up to and including it. A head written early carries the count at the
   * time it was written; the slot's final count is in its `slot.done` event and in the metrics.
   */
  readonly size: number;
}

/** The `X-Sluice-Batch` value of answers from this slot: `<slot id>; size=<n>` (see SlotInfo.size). */
export const batchHeaderValue = (slot: SlotInfo): string => `${slot.slotId}; size=${slot.size}`;

export interface FanOutResult<P = unknown> {
  /** Waiters the executor sent upstream on their own instead of sharing the reply. */
  readonly alone: number;
  /** The reply may not be shared: pass this key through uncoalesced for `uncoalescedTtlMs`. */
  readonly uncoalesce: boolean;
  /**
   * For a reply that `joinable` accepted: answers a waiter that joins while the body streams (the
   * head, then the body from its first byte). False when it could not (the body just ended or
   * outgrew the join bound): the registry then sends that waiter upstream on its own.
   */
  readonly join?: (waiter: P, slot: SlotInfo) => boolean;
}

/** What the executor tells the registry about a reply whose body it streams to joiners. */
export interface ReplyFlight {
  /** The body ended, failed or was abandoned: no more joins. */
  ended(): void;
  /** The body outgrew the join bound: no more joins (those already in still get it all). */
  overflowed(): void;
}

/** What a batch means. `P` is one waiter's payload, `R` what the one upstream call resolves with. */
export interface BatchExecutor<P, R> {
  /** The one upstream call for `batch` (join order). A rejection becomes every waiter's failure. */
  call(batch: readonly P[], signal: AbortSignal, slot: SlotInfo): Promise<R>;
  /**
   * Answers `present`, the waiters still owed an answer (join order; possibly none). For a reply
   * `joinable` accepted, `flight` must be told when joins have to stop.
   */
  fanOut(reply: R, present: readonly P[], slot: SlotInfo, flight: ReplyFlight): FanOutResult<P> | void;
  /**
   * Whether requests joining while this reply's body streams may share it (a shareable reply with a
   * body still to come). Asked once per reply, before `fanOut`, only when the registry joins in
   * flight; absent means never.
   */
  joinable?(reply: R): boolean;
  /** Answers every one of `present` with the same failure. */
  fail(error: unknown, present: readonly P[], slot: SlotInfo): void;
  /** Sends a waiter that could not share the reply upstream on its own (joins in flight only). */
  alone?(waiter: P, slot: SlotInfo): void;
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
  /** `phase`: `waiting` for a slot not yet flushed, else when it joined the call in flight. */
  | { type: 'waiter.joined'; slotId: string; waiterId: string; key: BatchKey; phase: 'waiting' | JoinPhase }
  | { type: 'waiter.left'; slotId: string; waiterId: string }
  | { type: 'slot.flushed'; slotId: string; key: BatchKey; reason: FlushReason; size: number }
  | { type: 'slot.replied'; slotId: string; key: BatchKey; size: number; joinable: boolean }
  | { type: 'slot.done'; slotId: string; key: BatchKey; outcome: SlotOutcome; size: number };

export interface BatchRegistryHooks {
  /** Observability: flushes, slot ends, calls saved (the registry never needs these to work). */
  onFlush?(reason: FlushReason, size: number): void;
  onSlotDone?(outcome: SlotOutcome, saved: number): void;
  /** A client joined a call already in flight: before its head arrived, or while its body streamed. */
  onJoinInFlight?(phase: JoinPhase): void;
  /** A fault in an executor or policy that was contained; the waiters were still answered. */
  onFault?(what: string, error: unknown): void;
  /** A flushed slot's call ended: its features, batch and outcome (policy telemetry). */
  onOutcome?(outcome: FlushOutcome): void;
}

/** When a joiner reached a call in flight. */
export const JoinPhase = { BeforeHead: 'before_head', DuringBody: 'during_body' } as const;
export type JoinPhase = (typeof JoinPhase)[keyof typeof JoinPhase];

export interface BatchRegistryOptions<P, R> {
  readonly clock: Clock;
  /** Ends an event-loop turn's work: cohorts close and timer flushes happen there. */
  readonly afterTurn: Scheduler;
  /** 0: a slot's call goes out on its first join, with no timer and no turn waited. */
  readonly maxWaitMs: number;
  /** Identical requests join the call in flight until its reply is complete (coalesce). Default false. */
  readonly joinInFlight?: boolean;
  /**
   * With joins in flight and no hold, a slot whose call has one client is a lone flight, not an
   * actor, until a second client joins (lone-flight.ts). Default true; false keeps every slot an
   * actor from its first join (the registry test compares the two).
   */
  readonly loneFlights?: boolean;
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
}

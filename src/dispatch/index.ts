// What other folders may import from src/dispatch: pure decisions for calling upstream replicas
// (which replica, whether to retry and when, whether the budget allows it). No I/O, no clock.
export { AffinityTable, affinityKey, DEFAULT_AFFINITY_MAX_ENTRIES, DEFAULT_AFFINITY_TTL_MS } from './affinity.ts';
export { classifyOutcome, isTransientError } from './outcome.ts';
export { DEFAULT_DISPATCH_CONFIG, ReplicaSlots } from './replica-slots.ts';
export { createRetryBudget, DEFAULT_BUDGET_MIN_PER_SECOND, DEFAULT_BUDGET_WINDOW_MS, recordCall, retriesLeft, tryWithdraw } from './retry-budget.ts';
export {
  backoffMs, DEFAULT_RETRY_CONFIG, IDEMPOTENT_METHODS, isRetryable, parseHttpDate, parseRetryAfter, planRetry, RETRYABLE_STATUSES,
} from './retry-policy.ts';
export { add, DEFAULT_BUCKETS, emptyRollingCounts, total } from './rolling-counts.ts';
export { FULL_SCAN_MAX, hasRoom, load, selectReplica } from './select-replica.ts';

export type { AffinityConfig, RequestHeaders } from './affinity.ts';
export type { CallResult, ClassifyOptions, Outcome } from './outcome.ts';
export type { DispatchConfig, QueuedTicket, SlotAdmission, Ticket } from './replica-slots.ts';
export type { RetryBudget, RetryBudgetConfig } from './retry-budget.ts';
export type { GiveUpReason, RetryableCall, RetryConfig, RetryPlan, RetryQuestion } from './retry-policy.ts';
export type { RollingBucket, RollingCounts } from './rolling-counts.ts';
export type { ReplicaLoad, SelectOptions } from './select-replica.ts';

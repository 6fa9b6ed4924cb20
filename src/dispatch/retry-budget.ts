// Decides whether a target may retry once more: retries stay within `ratio` of the first tries over
// a rolling window, plus a small reserve per second so a quiet target can still retry at all
// (Finagle's RetryBudget: ttl 10 s, minRetriesPerSec 10, percentCanRetry 0.2). Without it, each
// layer's retries multiply the load on an upstream that is already failing.
import { InvalidArgumentError } from '../errors.ts';
import { add, emptyRollingCounts, total } from './rolling-counts.ts';
import type { RollingCounts } from './rolling-counts.ts';

export interface RetryBudgetConfig {
  /** Retries allowed per first try, in [0, 1]: `retry.budget`. */
  readonly ratio: number;
  /** The rolling window, in ms. Default 10000. */
  readonly windowMs?: number | undefined;
  /** Retries always allowed per second of window, however little traffic. Default 10. */
  readonly minPerSecond?: number | undefined;
}

export const DEFAULT_BUDGET_WINDOW_MS = 10_000;
export const DEFAULT_BUDGET_MIN_PER_SECOND = 10;

type Key = 'calls' | 'retries';

export interface RetryBudget {
  readonly ratio: number;
  /** Retries always allowed over a whole window. */
  readonly reserve: number;
  readonly counts: RollingCounts<Key>;
}

export function createRetryBudget(config: RetryBudgetConfig): RetryBudget {
  const { ratio, windowMs = DEFAULT_BUDGET_WINDOW_MS, minPerSecond = DEFAULT_BUDGET_MIN_PER_SECOND } = config;
  if (!(ratio >= 0 && ratio <= 1)) throw new InvalidArgumentError(`'ratio' must be within [0, 1], got ${ratio}`);
  if (!(minPerSecond >= 0) || !Number.isFinite(minPerSecond)) throw new InvalidArgumentError(`'minPerSecond' must be a non-negative number, got ${minPerSecond}`);
  return { ratio, reserve: minPerSecond * (windowMs / 1000), counts: emptyRollingCounts<Key>(windowMs) };
}

/** Counts a first try (never a retry): each one earns `ratio` of a retry. */
export function recordCall(b: RetryBudget, now: number): RetryBudget {
  return { ...b, counts: add(b.counts, now, { calls: 1 }) };
}

/** Retries still allowed in the window ending at `now`, rounded down. */
export function retriesLeft(b: RetryBudget, now: number): number {
  const allowed = b.ratio * total(b.counts, now, 'calls') + b.reserve;
  // A tiny epsilon so that 0.2 × 5 calls allows its 1 retry despite binary fractions.
  return Math.max(0, Math.floor(allowed + 1e-9) - total(b.counts, now, 'retries'));
}

/** Spends one retry if the budget has one; `next` is unchanged when it has not. */
export function tryWithdraw(b: RetryBudget, now: number): { readonly ok: boolean; readonly next: RetryBudget } {
  if (retriesLeft(b, now) < 1) return { ok: false, next: b };
  return { ok: true, next: { ...b, counts: add(b.counts, now, { retries: 1 }) } };
}

// Arrival rate as a time-decayed sum: every arrival adds 1, and the sum halves every `halfLifeMs`.
// For a steady rate λ the sum settles at λ·τ (τ = halfLife / ln 2), so rate = sum / τ. Unlike an
// EWMA of inter-arrival gaps it needs no division by a gap (bursts in one millisecond are fine) and
// it decays while nothing arrives. A fresh estimate starts at 0 and warms up over a few half-lives,
// so it under-estimates at first: a policy reading it serves early rather than holding callers.
// Immutable: each call returns a new value; `now` is epoch ms from the caller's clock.
import { InvalidArgumentError } from '../errors.ts';

export interface ArrivalRate {
  readonly halfLifeMs: number;
  /** Decayed arrival count as of `at`. */
  readonly sum: number;
  /** Epoch ms of the last update. */
  readonly at: number;
}

export function arrivalRate(halfLifeMs: number, now: number): ArrivalRate {
  if (!Number.isFinite(halfLifeMs) || halfLifeMs <= 0) {
    throw new InvalidArgumentError(`'halfLifeMs' must be a positive number, got ${halfLifeMs}`);
  }
  return { halfLifeMs, sum: 0, at: now };
}

/** Adds `count` arrivals at `now`. A `now` before the last update (clock steps back) decays nothing. */
export function recordArrivals(r: ArrivalRate, now: number, count = 1): ArrivalRate {
  if (!Number.isFinite(count) || count < 0) throw new InvalidArgumentError(`'count' must be a non-negative number, got ${count}`);
  return { halfLifeMs: r.halfLifeMs, sum: decayedSum(r, now) + count, at: Math.max(r.at, now) };
}

/** Arrivals per millisecond as of `now`. */
export const ratePerMs = (r: ArrivalRate, now: number): number => (decayedSum(r, now) * Math.LN2) / r.halfLifeMs;

function decayedSum(r: ArrivalRate, now: number): number {
  const elapsed = Math.max(0, now - r.at);
  return r.sum * 2 ** (-elapsed / r.halfLifeMs);
}

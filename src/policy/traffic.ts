// Traffic for the policy environment: arrival times (epoch ms from 0) and batch keys, drawn from a
// seeded generator so a pattern and a seed always give the same run. Pure: no clock, no I/O.
import { InvalidArgumentError } from '../errors.ts';

export interface Arrival { readonly at: number; readonly key: string }

/** Arrivals per ms at time t (ms from the start of the run). */
export type RateCurve = (t: number) => number;

/**
 * A non-homogeneous Poisson process by thinning (Lewis & Shedler): candidates at the peak rate,
 * each kept with probability rate(t) / peak.
 */
export function poissonArrivals(rate: RateCurve, peakPerMs: number, durationMs: number, random: () => number): number[] {
  if (!(peakPerMs > 0)) throw new InvalidArgumentError(`'peakPerMs' must be positive, got ${peakPerMs}`);
  const out: number[] = [];
  for (let t = 0; ;) {
    t += -Math.log(1 - random()) / peakPerMs;
    if (t >= durationMs) return out;
    if (random() * peakPerMs < rate(t)) out.push(t);
  }
}

/** Zipf(s) over `n` keys: key i (1-based) drawn with weight 1 / i^s. Returns a sampler of key indexes. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) { sum += 1 / (i + 1) ** s; cdf[i] = sum; }
  return () => {
    const x = random() * sum;
    let lo = 0, hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid]! < x) lo = mid + 1; else hi = mid; }
    return lo;
  };
}

/** On for `onMs` at `onRate`, off for `offMs` at `offRate`, repeating. */
export const onOff = (onMs: number, offMs: number, onRate: number, offRate: number): RateCurve =>
  (t) => (t % (onMs + offMs) < onMs ? onRate : offRate);

/** A day compressed into `periodMs`: from `low` up to `high` and back, as a raised cosine. */
export const diurnal = (periodMs: number, low: number, high: number): RateCurve =>
  (t) => low + ((high - low) * (1 - Math.cos((2 * Math.PI * t) / periodMs))) / 2;

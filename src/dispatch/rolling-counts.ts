// Counts over a rolling time window, kept as a few fixed-width buckets (resilience4j's
// SlidingTimeWindowMetrics): adding and summing cost O(buckets) however many calls there are.
// The price is granularity: the window covers between (buckets - 1) and `buckets` bucket widths of
// history, i.e. 90–100 % of `windowMs` with the default 10 buckets. Immutable and JSON-safe, so a
// machine can keep it in context.
import { InvalidArgumentError } from '../errors.ts';

export interface RollingBucket<K extends string> {
  /** Epoch ms where the bucket starts: a multiple of `bucketMs`. */
  readonly startAt: number;
  readonly counts: Readonly<Partial<Record<K, number>>>;
}

export interface RollingCounts<K extends string> {
  readonly bucketMs: number;
  readonly buckets: number;
  /** Oldest first; never more than `buckets` entries, none older than the window. */
  readonly entries: readonly RollingBucket<K>[];
}

export const DEFAULT_BUCKETS = 10;

export function emptyRollingCounts<K extends string>(windowMs: number, buckets = DEFAULT_BUCKETS): RollingCounts<K> {
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new InvalidArgumentError(`'windowMs' must be a positive number, got ${windowMs}`);
  if (!Number.isSafeInteger(buckets) || buckets < 1) throw new InvalidArgumentError(`'buckets' must be a positive integer, got ${buckets}`);
  return { bucketMs: Math.max(1, Math.ceil(windowMs / buckets)), buckets, entries: [] };
}

const bucketStart = (w: RollingCounts<string>, at: number): number => Math.floor(at / w.bucketMs) * w.bucketMs;

/** A bucket is in the window at `now` when it is one of the last `buckets` buckets up to now's. */
const inWindow = (w: RollingCounts<string>, startAt: number, now: number): boolean =>
  startAt > bucketStart(w, now) - w.buckets * w.bucketMs;

/**
 * Adds `delta` to the bucket holding `at` and drops buckets that left the window. An `at` earlier
 * than the newest bucket (a late report) still lands in its own bucket while that is in the window.
 */
export function add<K extends string>(w: RollingCounts<K>, at: number, delta: Partial<Record<K, number>>): RollingCounts<K> {
  const newest = w.entries.at(-1)?.startAt ?? -Infinity;
  const horizon = Math.max(newest, at);
  const start = bucketStart(w, at);
  if (!inWindow(w, start, horizon)) return w;
  const entries: RollingBucket<K>[] = [];
  let placed = false;
  for (const b of w.entries) {
    if (!inWindow(w, b.startAt, horizon)) continue;
    if (!placed && b.startAt > start) { entries.push({ startAt: start, counts: delta }); placed = true; }
    entries.push(b.startAt === start ? { startAt: start, counts: sumCounts(b.counts, delta) } : b);
    if (b.startAt === start) placed = true;
  }
  if (!placed) entries.push({ startAt: start, counts: delta });
  return { ...w, entries };
}

/** The total of `key` over the window ending at `now`. */
export function total<K extends string>(w: RollingCounts<K>, now: number, key: K): number {
  let sum = 0;
  for (const b of w.entries) if (inWindow(w, b.startAt, now) && b.startAt <= now) sum += b.counts[key] ?? 0;
  return sum;
}

function sumCounts<K extends string>(a: Readonly<Partial<Record<K, number>>>, b: Readonly<Partial<Record<K, number>>>): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = { ...a };
  for (const k of Object.keys(b) as K[]) out[k] = (out[k] ?? 0) + (b[k] ?? 0);
  return out;
}

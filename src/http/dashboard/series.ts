// The dashboard's memory: the last `points` samples of every metric series, one sample per call to
// `record(now, readings)`, kept in a ring (fixed memory, oldest dropped). It decides what a chart
// plots from raw readings: counters become per-second rates over the interval since the previous
// sample, gauges are kept as read, histograms become quantiles of what was observed in the interval.
// Pure: the caller passes `now` and the readings; no clock, no I/O.

/** Labels of one series, as Prometheus has them (the node's own label left out). */
export type Labels = Readonly<Record<string, string>>;

export type Reading =
  | { readonly kind: 'counter'; readonly name: string; readonly labels: Labels; readonly value: number }
  | { readonly kind: 'gauge'; readonly name: string; readonly labels: Labels; readonly value: number }
  /** Cumulative counts per upper bound, ascending, the last bound +Infinity (Prometheus `le`). */
  | { readonly kind: 'histogram'; readonly name: string; readonly labels: Labels; readonly bounds: readonly number[]; readonly counts: readonly number[] };

/** What a stored series holds: `rate` per second, `value` as read, or a quantile such as `p99`. */
export type Stat = 'rate' | 'value' | `p${number}`;

export interface SeriesInfo { readonly id: string; readonly name: string; readonly labels: Labels; readonly stat: Stat }

/** One sample: its time and the value of every series that had one (null: no value this time). */
export interface Point { readonly t: number; readonly values: Readonly<Record<string, number | null>>; readonly added: readonly SeriesInfo[] }

export interface Window {
  readonly t: readonly number[];
  readonly series: ReadonlyArray<SeriesInfo & { readonly values: ReadonlyArray<number | null> }>;
}

export interface SeriesOptions {
  /** Samples kept per series (default 300: five minutes at one per second). */
  readonly points?: number;
  /** Quantiles drawn from each histogram, in (0, 1] (default p50 and p99). */
  readonly quantiles?: readonly number[];
}

export const DEFAULT_POINTS = 300;
export const DEFAULT_QUANTILES: readonly number[] = [0.5, 0.99];

interface Column { readonly info: SeriesInfo; readonly values: Float64Array; lastSeen: number }
interface Previous { at: number; value: number; counts?: readonly number[]; seen: number }

export class SeriesRing {
  readonly points: number;
  private readonly quantiles: readonly number[];
  private readonly times: Float64Array;
  /** Ring position of the next sample, and how many samples are stored. */
  private head = 0;
  private size = 0;
  /** Samples recorded since the start: a column unseen for `points` samples holds nothing and goes. */
  private recorded = 0;
  private readonly columns = new Map<string, Column>();
  /** The raw reading behind each counter or histogram, to take the next difference from. */
  private readonly previous = new Map<string, Previous>();

  constructor(opts: SeriesOptions = {}) {
    this.points = opts.points ?? DEFAULT_POINTS;
    if (!Number.isSafeInteger(this.points) || this.points < 2) throw new RangeError(`points must be an integer ≥ 2, got ${this.points}`);
    this.quantiles = opts.quantiles ?? DEFAULT_QUANTILES;
    for (const q of this.quantiles) if (!(q > 0 && q <= 1)) throw new RangeError(`quantiles must be in (0, 1], got ${q}`);
    this.times = new Float64Array(this.points);
  }

  /** Stores one sample taken at `now` (epoch ms, not before the previous sample) and returns it. */
  record(now: number, readings: Iterable<Reading>): Point {
    const last = this.size > 0 ? this.times[(this.head - 1 + this.points) % this.points]! : -Infinity;
    if (!(now >= last)) throw new RangeError(`samples must not go back in time: ${now} after ${last}`);
    const slot = this.head;
    this.times[slot] = now;
    for (const c of this.columns.values()) c.values[slot] = NaN;
    const values: Record<string, number | null> = {};
    const added: SeriesInfo[] = [];
    const put = (id: string, name: string, labels: Labels, stat: Stat, v: number | null) => {
      let c = this.columns.get(id);
      if (!c) {
        c = { info: { id, name, labels, stat }, values: new Float64Array(this.points).fill(NaN), lastSeen: 0 };
        this.columns.set(id, c);
        added.push(c.info);
      }
      c.lastSeen = this.recorded;
      c.values[slot] = v ?? NaN;
      values[id] = v;
    };

    for (const r of readings) {
      const key = seriesKey(r.name, r.labels);
      if (r.kind === 'gauge') { put(key, r.name, r.labels, 'value', r.value); continue; }
      const prev = this.previous.get(key);
      const seconds = prev ? (now - prev.at) / 1000 : 0;
      if (r.kind === 'counter') {
        this.previous.set(key, { at: now, value: r.value, seen: this.recorded });
        // A counter that went down was reset (its target replaced, say): it counted `value` since.
        const delta = prev ? (r.value >= prev.value ? r.value - prev.value : r.value) : 0;
        put(`${key}:rate`, r.name, r.labels, 'rate', prev && seconds > 0 ? delta / seconds : null);
        continue;
      }
      const counts = r.counts;
      this.previous.set(key, { at: now, value: counts[counts.length - 1] ?? 0, counts, seen: this.recorded });
      const diff = prev?.counts && prev.counts.length === counts.length && (counts[counts.length - 1] ?? 0) >= prev.value
        ? counts.map((n, i) => n - prev.counts![i]!)
        : undefined;
      for (const q of this.quantiles) {
        const stat: Stat = `p${Math.round(q * 1000) / 10}`;
        put(`${key}:${stat}`, r.name, r.labels, stat, diff ? quantile(q, r.bounds, diff) : null);
      }
    }

    this.recorded++;
    this.head = (this.head + 1) % this.points;
    this.size = Math.min(this.size + 1, this.points);
    for (const [id, c] of this.columns) if (this.recorded - c.lastSeen > this.points) this.columns.delete(id);
    for (const [key, p] of this.previous) if (this.recorded - p.seen > this.points) this.previous.delete(key);
    return { t: now, values, added };
  }

  /** Every stored sample, oldest first; a series shows null where it had no value. */
  window(): Window {
    const order = this.order();
    const series = [...this.columns.values()].map((c) => ({ ...c.info, values: order.map((i) => finite(c.values[i]!)) }));
    return { t: order.map((i) => this.times[i]!), series };
  }

  private order(): number[] {
    const start = (this.head - this.size + this.points) % this.points;
    return Array.from({ length: this.size }, (_, k) => (start + k) % this.points);
  }
}

/** `name{a="1",b="2"}` with labels sorted: the same series whatever order its labels come in. */
export function seriesKey(name: string, labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

/**
 * The q-quantile of observations given as cumulative counts per upper bound, interpolated linearly
 * inside its bucket as Prometheus' histogram_quantile does; in the +Inf bucket it answers the highest
 * finite bound. Null when nothing was observed.
 */
export function quantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number | null {
  const own = cumulative.map((n, i) => (i === 0 ? n : n - cumulative[i - 1]!));
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const inBucket = own[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      const upper = bounds[i]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      if (upper === Infinity) return lower;
      return lower + (upper - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds.length > 1 ? bounds[bounds.length - 2]! : null;
}

const finite = (v: number): number | null => (Number.isNaN(v) ? null : v);

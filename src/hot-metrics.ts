// Counters and histograms for the request path. prom-client hashes, sorts and validates the label
// object on every update (several µs each, four times per request in profiles); these keep one
// plain record per label set, found by the joined label values, and render Prometheus text through
// prom-client's registry at scrape time like any other metric.
import type { Registry } from 'prom-client';

interface MetricValue { value: number; labels: Record<string, string | number>; metricName?: string }
interface Collected { name: string; help: string; type: 'counter' | 'histogram'; values: MetricValue[]; aggregator: 'sum' }

abstract class HotMetric<L extends string, S> {
  private readonly series = new Map<string, { labels: Record<L, string>; state: S }>();

  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly L[], registry: Registry) {
    // The registry only needs `name` and `get()`; the cast stands for prom-client's Metric type.
    registry.registerMetric(this as never);
  }

  protected stateFor(labels: Record<L, string>): S {
    let key = '';
    for (const n of this.labelNames) key += labels[n] + '\u0000';
    let s = this.series.get(key);
    if (!s) {
      const copy = {} as Record<L, string>;
      for (const n of this.labelNames) copy[n] = String(labels[n]);
      s = { labels: copy, state: this.initial() };
      this.series.set(key, s);
    }
    return s.state;
  }

  protected abstract initial(): S;
  protected abstract render(labels: Record<L, string>, state: S): MetricValue[];
  protected abstract readonly type: 'counter' | 'histogram';

  async get(): Promise<Collected> {
    const values: MetricValue[] = [];
    for (const { labels, state } of this.series.values()) values.push(...this.render(labels, state));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  /** Forgets every series. A child made before keeps counting into a series no longer rendered. */
  reset(): void { this.series.clear(); }
}

export class HotCounter<L extends string> extends HotMetric<L, { n: number }> {
  protected readonly type = 'counter';
  inc(labels: Record<L, string>, by = 1): void { this.stateFor(labels).n += by; }
  /** The series for one label set, looked up once: a per-request `inc` then costs an addition. */
  child(labels: Record<L, string>): { inc(by?: number): void } {
    const s = this.stateFor(labels);
    return { inc: (by = 1) => { s.n += by; } };
  }
  protected initial() { return { n: 0 }; }
  protected render(labels: Record<L, string>, s: { n: number }): MetricValue[] { return [{ value: s.n, labels }]; }
}

interface HistogramState { counts: number[]; sum: number; count: number }

/** One observation into a series: its sum, its count and the first bucket it fits (buckets are cumulative when rendered). */
function record(s: HistogramState, buckets: readonly number[], value: number): void {
  s.sum += value;
  s.count++;
  for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]!) { s.counts[i]!++; return; }
}

export class HotHistogram<L extends string> extends HotMetric<L, HistogramState> {
  protected readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly L[], private readonly buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
  }

  observe(labels: Record<L, string>, value: number): void { record(this.stateFor(labels), this.buckets, value); }

  /** The series for one label set, looked up once. */
  child(labels: Record<L, string>): { observe(value: number): void } {
    const s = this.stateFor(labels);
    const b = this.buckets;
    return { observe: (value) => record(s, b, value) };
  }

  protected initial(): HistogramState { return { counts: this.buckets.map(() => 0), sum: 0, count: 0 }; }

  protected render(labels: Record<L, string>, s: HistogramState): MetricValue[] {
    const out: MetricValue[] = [];
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += s.counts[i]!;
      out.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
    });
    out.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: s.count });
    out.push({ metricName: `${this.name}_sum`, labels, value: s.sum });
    out.push({ metricName: `${this.name}_count`, labels, value: s.count });
    return out;
  }
}

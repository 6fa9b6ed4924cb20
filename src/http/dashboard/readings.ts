// Prometheus metrics as the dashboard's readings: whatever the node's registry holds, so a metric a
// new feature registers (cache hits, forwards) reaches the page without a change here. The node's
// own label is left out (every series of one registry carries it); histograms come whole, their
// cumulative bucket counts gathered per label set, `_sum` and `_count` dropped.
import type { Labels, Reading } from './series.ts';

/** The shape of prom-client's `registry.getMetricsAsJSON()` that matters here. */
export interface MetricJson {
  readonly name: string;
  /** 'counter', 'gauge', 'histogram' or 'summary' at run time (prom-client's typings say a number). */
  readonly type: unknown;
  readonly values: ReadonlyArray<{ readonly value: number; readonly labels: Readonly<Partial<Record<string, string | number>>>; readonly metricName?: string }>;
}

export function readingsOf(metrics: readonly MetricJson[], omit: readonly string[] = ['node']): Reading[] {
  const out: Reading[] = [];
  for (const m of metrics) {
    if (m.type === 'counter' || m.type === 'gauge') {
      for (const v of m.values) if (Number.isFinite(v.value)) out.push({ kind: m.type, name: m.name, labels: labelsOf(v.labels, omit), value: v.value });
      continue;
    }
    if (m.type !== 'histogram') continue;
    const byLabels = new Map<string, { labels: Labels; buckets: Array<[number, number]> }>();
    for (const v of m.values) {
      if (v.metricName !== `${m.name}_bucket`) continue;
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      const labels = labelsOf(v.labels, [...omit, 'le']);
      const id = JSON.stringify(labels);
      let h = byLabels.get(id);
      if (!h) byLabels.set(id, (h = { labels, buckets: [] }));
      h.buckets.push([le, v.value]);
    }
    for (const { labels, buckets } of byLabels.values()) {
      buckets.sort((a, b) => a[0] - b[0]);
      out.push({ kind: 'histogram', name: m.name, labels, bounds: buckets.map((b) => b[0]), counts: buckets.map((b) => b[1]) });
    }
  }
  return out;
}

function labelsOf(labels: Readonly<Partial<Record<string, string | number>>>, omit: readonly string[]): Labels {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (v !== undefined && !omit.includes(k)) out[k] = String(v);
  return out;
}

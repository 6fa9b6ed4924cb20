// One Prometheus registry per node (never prom-client's global one: tests and the simulator run many
// nodes in one process). Modules register their own metrics on `registry` next to the core ones here.
import { Counter, Gauge, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics.ts';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class NodeMetrics {
  readonly registry = new Registry();

  // Updated on every request: hot metrics (see hot-metrics.ts), rendered by the same registry.
  readonly requests = new HotCounter('sluice_requests_total', 'Client requests answered, by target and status class',
    ['target', 'status'], this.registry);
  readonly requestDuration = new HotHistogram('sluice_request_duration_seconds', 'Time from request arrival to the answer being complete',
    ['target'], LATENCY_BUCKETS, this.registry);
  readonly upstreamCalls = new HotCounter('sluice_upstream_calls_total', 'Calls made to upstream replicas, by outcome',
    ['target', 'replica', 'outcome'], this.registry);
  readonly upstreamDuration = new HotHistogram('sluice_upstream_duration_seconds', 'Upstream time to response head',
    ['target'], LATENCY_BUCKETS, this.registry);
  readonly httpRejected = new Counter({
    name: 'sluice_http_rejected_total', help: 'Malformed or refused client requests, by reason',
    labelNames: ['reason'] as const, registers: [this.registry],
  });

  constructor(defaultLabels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(defaultLabels);
  }

  /** A gauge read at scrape time, for state owned elsewhere (bus stats, membership size, queues). */
  gauge(name: string, help: string, read: () => number | Array<{ labels: Record<string, string>; value: number }>, labelNames: string[] = []): Gauge {
    return new Gauge({
      name, help, labelNames, registers: [this.registry],
      collect() {
        const v = read();
        this.reset();
        if (typeof v === 'number') this.set(v);
        else for (const { labels, value } of v) this.set(labels, value);
      },
    });
  }
}

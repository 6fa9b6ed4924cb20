// Response cache metrics of one node, shared by every target's cache (one instance per NodeMetrics,
// so replacing a target never registers a metric twice).
import { Counter } from 'prom-client';
import type { NodeMetrics } from '../../metrics.ts';

/** What a cache-enabled target reports for the gauges, read at scrape time. */
export interface CacheGaugeSource {
  readonly target: string;
  stats(): { entries: number; bytes: number; tierUp: boolean | null };
}

export class CacheMetrics {
  private static readonly cache = new WeakMap<NodeMetrics, CacheMetrics>();

  static for(metrics: NodeMetrics): CacheMetrics {
    let m = CacheMetrics.cache.get(metrics);
    if (!m) { m = new CacheMetrics(metrics); CacheMetrics.cache.set(metrics, m); }
    return m;
  }

  readonly hits: Counter<'target'>;
  readonly misses: Counter<'target' | 'fwd'>;
  readonly staleServed: Counter<'target' | 'why'>;
  readonly revalidations: Counter<'target' | 'outcome'>;
  readonly evictions: Counter<'target'>;
  readonly stores: Counter<'target' | 'outcome'>;
  readonly tierErrors: Counter<'target' | 'op'>;
  private readonly sources = new Set<CacheGaugeSource>();

  private constructor(metrics: NodeMetrics) {
    const registers = [metrics.registry];
    this.hits = new Counter({ name: 'sluice_cache_hits_total', help: 'Requests answered fresh from the cache', labelNames: ['target'] as const, registers });
    this.misses = new Counter({ name: 'sluice_cache_misses_total', help: 'Requests the cache sent upstream, by RFC 9211 fwd reason', labelNames: ['target', 'fwd'] as const, registers });
    this.staleServed = new Counter({ name: 'sluice_cache_stale_served_total', help: 'Stale answers served (stale-while-revalidate, max-stale, stale-if-error)', labelNames: ['target', 'why'] as const, registers });
    this.revalidations = new Counter({ name: 'sluice_cache_revalidations_total', help: 'Upstream validations of stored answers, by outcome', labelNames: ['target', 'outcome'] as const, registers });
    this.evictions = new Counter({ name: 'sluice_cache_evictions_total', help: 'Stored answers evicted to stay under maxBytes', labelNames: ['target'] as const, registers });
    this.stores = new Counter({ name: 'sluice_cache_stores_total', help: 'Completed upstream answers, stored or why not', labelNames: ['target', 'outcome'] as const, registers });
    this.tierErrors = new Counter({ name: 'sluice_cache_tier_errors_total', help: 'Failed calls to the shared (JetStream) tier', labelNames: ['target', 'op'] as const, registers });
    metrics.gauge('sluice_cache_bytes', 'Bytes held by the memory cache', () => [...this.sources].map((s) => ({ labels: { target: s.target }, value: s.stats().bytes })), ['target']);
    metrics.gauge('sluice_cache_entries', 'Answers held by the memory cache', () => [...this.sources].map((s) => ({ labels: { target: s.target }, value: s.stats().entries })), ['target']);
    metrics.gauge('sluice_cache_tier_up', '1 while the shared (JetStream) tier is reachable, 0 while serving from memory alone',
      () => [...this.sources].flatMap((s) => { const up = s.stats().tierUp; return up === null ? [] : [{ labels: { target: s.target }, value: up ? 1 : 0 }]; }), ['target']);
  }

  track(source: CacheGaugeSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }
}

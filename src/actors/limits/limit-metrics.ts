// Prometheus metrics of a node's limits, registered once per node registry (targets come and go;
// their enforcers are read at scrape time while they live).
import { Counter } from 'prom-client';
import type { Clock } from '../../clock.ts';
import type { NodeMetrics } from '../../metrics.ts';
import type { LimitEnforcer } from './enforcer.ts';
import type { LimitGossip } from './gossip.ts';

/** What an enforcer may expose beyond LimitEnforcer for the gauges; the approximate one does. */
export interface ObservableEnforcer extends LimitEnforcer {
  clusterTotalSeen?(now: number): number;
  degraded?(now: number): boolean;
}

export type DecisionOutcome = 'admitted' | 'limited' | 'would_limit' | 'queued';

/** Decisions of one limit of one target, counted in plain fields (the hot path) and read at scrape time. */
export type DecisionCounts = Record<DecisionOutcome, number>;

const OUTCOMES: readonly DecisionOutcome[] = ['admitted', 'limited', 'would_limit', 'queued'];

interface Watched { target: string; enforcer: ObservableEnforcer }

export class LimitMetrics {
  readonly decisions: Counter<'target' | 'limit' | 'outcome'>;
  private readonly watched = new Set<Watched>();
  /** Kept across target replacement, so a counter never goes back unless the node restarts. */
  private readonly counted = new Map<string, { target: string; limit: string; counts: DecisionCounts }>();

  constructor(metrics: NodeMetrics, private readonly clock: Clock) {
    const counted = this.counted;
    this.decisions = new Counter({
      name: 'sluice_limit_decisions_total',
      help: 'Admission decisions per limit: admitted, limited (refused or timed out in the queue), would_limit (shadow mode), queued',
      labelNames: ['target', 'limit', 'outcome'] as const, registers: [metrics.registry],
      collect() {
        this.reset();
        for (const { target, limit, counts } of counted.values()) {
          for (const outcome of OUTCOMES) if (counts[outcome] > 0) this.inc({ target, limit, outcome }, counts[outcome]);
        }
      },
    });
    metrics.gauge('sluice_limit_cluster_total', 'Merged cluster total this node sees for the limit in the current window (per-client limits: the highest key it decided on)',
      () => this.read((e, now) => e.clusterTotalSeen?.(now)), ['target', 'limit']);
    metrics.gauge('sluice_limit_degraded', '1 while the limit cannot see the whole cluster and applies its degraded policy',
      () => this.read((e, now) => { const d = e.degraded?.(now); return d === undefined ? undefined : Number(d); }), ['target', 'limit']);
  }

  /** The counts of `limit` on `target`, to increment directly. */
  countsFor(target: string, limit: string): DecisionCounts {
    const id = `${target}\u0000${limit}`;
    let c = this.counted.get(id);
    if (!c) this.counted.set(id, (c = { target, limit, counts: { admitted: 0, limited: 0, would_limit: 0, queued: 0 } }));
    return c.counts;
  }

  watch(target: string, enforcer: ObservableEnforcer): () => void {
    const w = { target, enforcer };
    this.watched.add(w);
    return () => this.watched.delete(w);
  }

  private read(f: (e: ObservableEnforcer, now: number) => number | undefined) {
    const now = this.clock.now();
    const out: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const { target, enforcer } of this.watched) {
      const value = f(enforcer, now);
      if (value !== undefined) out.push({ labels: { target, limit: enforcer.config.name }, value });
    }
    return out;
  }
}

const perRegistry = new WeakMap<NodeMetrics, LimitMetrics>();

/** The node's limit metrics, created on first use. */
export function limitMetricsFor(metrics: NodeMetrics, clock: Clock): LimitMetrics {
  let m = perRegistry.get(metrics);
  if (!m) perRegistry.set(metrics, (m = new LimitMetrics(metrics, clock)));
  return m;
}

/** Gossip traffic of the node's gossip actor, read at scrape time. */
export function registerGossipMetrics(metrics: NodeMetrics, gossip: LimitGossip): void {
  metrics.gauge('sluice_gossip_messages', 'Limit gossip messages since start: sent, received, dropped (malformed or refused)', () => [
    { labels: { kind: 'sent' }, value: gossip.stats.sent },
    { labels: { kind: 'received' }, value: gossip.stats.received },
    { labels: { kind: 'dropped' }, value: gossip.stats.dropped },
  ], ['kind']);
}

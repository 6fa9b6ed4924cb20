// Prometheus metrics of dispatch, one instance per node registry (targets come and go; their
// replicas are read at scrape time while they live): per replica in flight, queue length, capacity,
// breaker state, errors and breaker transitions; per target refusals and retries.
import { Counter } from 'prom-client';
import type { NodeMetrics } from '../../metrics.ts';
import type { BreakerState } from '../../machines/circuit-breaker.ts';

/** One replica's live numbers, read at scrape time. */
export interface ReplicaView {
  readonly target: string;
  readonly replica: string;
  readonly inFlight: number;
  readonly queued: number;
  readonly concurrency: number;
  readonly queueCap: number;
  readonly state: BreakerState;
}

export interface ReplicaSource { views(): readonly ReplicaView[] }

/** Why a failed call counted against its replica. */
export type ReplicaErrorKind = 'unreachable' | 'timeout' | 'status';
/** Why a call was answered 503 without reaching any replica. */
export type RefusalReason = 'breaker_open' | 'queue_full';
/** What became of a retry the policy asked for. */
export type RetryOutcome = 'scheduled' | 'budget_exhausted';

const STATES: readonly BreakerState[] = ['closed', 'open', 'halfOpen'];

export class DispatchMetrics {
  private static readonly cache = new WeakMap<NodeMetrics, DispatchMetrics>();

  static for(metrics: NodeMetrics): DispatchMetrics {
    let m = DispatchMetrics.cache.get(metrics);
    if (!m) { m = new DispatchMetrics(metrics); DispatchMetrics.cache.set(metrics, m); }
    return m;
  }

  readonly errors: Counter<'target' | 'replica' | 'kind'>;
  readonly transitions: Counter<'target' | 'replica' | 'from' | 'to' | 'reason'>;
  readonly refused: Counter<'target' | 'reason'>;
  readonly retries: Counter<'target' | 'outcome'>;
  private readonly sources = new Set<ReplicaSource>();

  private constructor(metrics: NodeMetrics) {
    const registers = [metrics.registry];
    this.errors = new Counter({
      name: 'sluice_replica_errors_total', help: 'Upstream calls that counted as failures against the replica breaker, by kind',
      labelNames: ['target', 'replica', 'kind'] as const, registers,
    });
    this.transitions = new Counter({
      name: 'sluice_replica_breaker_transitions_total', help: 'Breaker state changes per replica',
      labelNames: ['target', 'replica', 'from', 'to', 'reason'] as const, registers,
    });
    this.refused = new Counter({
      name: 'sluice_dispatch_refused_total', help: 'Calls answered 503 without an upstream call: every breaker open, or every queue full',
      labelNames: ['target', 'reason'] as const, registers,
    });
    this.retries = new Counter({
      name: 'sluice_dispatch_retries_total', help: 'Retries the policy asked for: scheduled, or refused by the retry budget',
      labelNames: ['target', 'outcome'] as const, registers,
    });
    const labels = ['target', 'replica'];
    metrics.gauge('sluice_replica_in_flight', 'Calls running on the replica (until their reply body closes)', () => this.read((v) => v.inFlight), labels);
    metrics.gauge('sluice_replica_queued', 'Calls waiting for one of the replica\'s concurrency slots', () => this.read((v) => v.queued), labels);
    metrics.gauge('sluice_replica_capacity', 'Calls the replica may run at once (dispatch.concurrency)', () => this.read((v) => v.concurrency), labels);
    metrics.gauge('sluice_replica_queue_capacity', 'Calls that may wait per replica before 503 (dispatch.queue)', () => this.read((v) => v.queueCap), labels);
    metrics.gauge('sluice_replica_breaker_state', '1 for the state the replica breaker is in, 0 for the others', () => {
      const out: Array<{ labels: Record<string, string>; value: number }> = [];
      for (const s of this.sources) {
        for (const v of s.views()) {
          for (const state of STATES) out.push({ labels: { target: v.target, replica: v.replica, state }, value: Number(v.state === state) });
        }
      }
      return out;
    }, ['target', 'replica', 'state']);
  }

  /** Reads `source` at every scrape until the returned function is called. */
  watch(source: ReplicaSource): () => void {
    this.sources.add(source);
    return () => { this.sources.delete(source); };
  }

  private read(f: (v: ReplicaView) => number): Array<{ labels: Record<string, string>; value: number }> {
    const out: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const s of this.sources) for (const v of s.views()) out.push({ labels: { target: v.target, replica: v.replica }, value: f(v) });
    return out;
  }
}

// Batching metrics of one node, shared by every target's registry: how slots flushed and ended, how
// big batches were, how many upstream calls batching saved and how each waiter was answered. One
// instance per NodeMetrics (cached), so replacing a target never registers a metric twice.
import { Counter } from 'prom-client';
import { HotCounter, HotHistogram } from '../../hot-metrics.ts';
import type { NodeMetrics } from '../../metrics.ts';

/** How one waiting client was answered; every waiter ends in exactly one of these. */
export const WaiterOutcome = {
  /** The shared (or split) upstream reply. */
  Replied: 'replied',
  /** The slot's upstream call failed; the same problem went to every waiter. */
  Failed: 'failed',
  /** Its own deadline (`maxClientWaitMs`) passed first: 504. */
  Deadline: 'deadline',
  /** The client went away before its answer. */
  Left: 'left',
  /** Its request could not join a batch (merge: a body the strategy refuses): 400 alone. */
  Rejected: 'rejected',
  /** Sent upstream on its own: a private reply went to another waiter, or its key passes through. */
  Alone: 'alone',
} as const;
export type WaiterOutcome = (typeof WaiterOutcome)[keyof typeof WaiterOutcome];

const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/** What the live-slots gauge reads from each registry. */
export interface LiveSlotSource { readonly target: string; readonly liveSlots: number }

export class BatchMetrics {
  private static readonly cache = new WeakMap<NodeMetrics, BatchMetrics>();

  static for(metrics: NodeMetrics): BatchMetrics {
    let m = BatchMetrics.cache.get(metrics);
    if (!m) { m = new BatchMetrics(metrics); BatchMetrics.cache.set(metrics, m); }
    return m;
  }

  readonly flushes: HotCounter<'target' | 'mode' | 'reason'>;
  readonly slots: HotCounter<'target' | 'mode' | 'outcome'>;
  readonly batchSize: HotHistogram<'target' | 'mode'>;
  readonly callsSaved: HotCounter<'target' | 'mode'>;
  readonly joinsInFlight: HotCounter<'target' | 'mode' | 'phase'>;
  readonly answered: HotCounter<'target' | 'mode' | 'outcome'>;
  readonly policyFallbacks: Counter<'target'>;
  private readonly sources = new Set<LiveSlotSource>();

  private constructor(metrics: NodeMetrics) {
    const registers = [metrics.registry];
    // Updated once or more per request (a slot per request when nothing coalesces): hot metrics,
    // whose children skip prom-client's per-update label hashing (src/hot-metrics.ts).
    const registry = metrics.registry;
    this.flushes = new HotCounter('sluice_batch_flushes_total', 'Batch slots flushed into an upstream call, by trigger',
      ['target', 'mode', 'reason'] as const, registry);
    this.slots = new HotCounter('sluice_batch_slots_total', 'Batch slots ended, by outcome (cancelled: every waiter left before flush)',
      ['target', 'mode', 'outcome'] as const, registry);
    this.batchSize = new HotHistogram('sluice_batch_size', 'Waiters in one batched upstream call', ['target', 'mode'] as const, SIZE_BUCKETS, registry);
    this.callsSaved = new HotCounter('sluice_batch_upstream_calls_saved_total',
      'Upstream calls batching avoided (waiters served by a call they did not make)', ['target', 'mode'] as const, registry);
    this.joinsInFlight = new HotCounter('sluice_batch_joins_in_flight_total',
      'Requests that joined an upstream call already in flight, by phase (before_head: waited for the head; during_body: got the head and the body from its first byte)',
      ['target', 'mode', 'phase'] as const, registry);
    this.answered = new HotCounter('sluice_batch_waiters_answered_total', 'Batched client requests answered, by outcome',
      ['target', 'mode', 'outcome'] as const, registry);
    this.policyFallbacks = new Counter({
      name: 'sluice_batch_policy_fallbacks_total', help: 'Agent policy asks that got no usable answer in time (the guards decided)',
      labelNames: ['target'] as const, registers,
    });
    metrics.gauge('sluice_batch_live_slots', 'Batch slots not yet done (waiting or serving), by target', () => {
      const byTarget = new Map<string, number>();
      for (const s of this.sources) byTarget.set(s.target, (byTarget.get(s.target) ?? 0) + s.liveSlots);
      return [...byTarget].map(([target, value]) => ({ labels: { target }, value }));
    }, ['target']);
  }

  /** Counts answered waiters of one target and mode; the labelled children are made once (hot path). */
  answeredCounter(target: string, mode: string): (outcome: WaiterOutcome) => void {
    const children = new Map<WaiterOutcome, { inc(): void }>();
    return (outcome) => {
      let c = children.get(outcome);
      if (!c) { c = this.answered.child({ target, mode, outcome }); children.set(outcome, c); }
      c.inc();
    };
  }

  /** Counts a registry's slots in the live-slots gauge until the returned function is called. */
  track(source: LiveSlotSource): () => void {
    this.sources.add(source);
    return () => { this.sources.delete(source); };
  }
}

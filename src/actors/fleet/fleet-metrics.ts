// Fleet-scope metrics of one node (one instance per NodeMetrics), and the same counts per target
// for `GET /_sluice/targets/<name>`.
import { Counter } from 'prom-client';
import type { NodeMetrics } from '../../metrics.ts';

/** How a forward this node sent ended. */
export const ForwardOutcome = {
  /** The owner's answer came back whole. */
  Replied: 'replied',
  /** The owner did not take it or went silent before the head: this node called on its own. */
  Fallback: 'fallback',
  /** The owner went silent after the head: the body was cut. */
  Cut: 'cut',
} as const;
export type ForwardOutcome = (typeof ForwardOutcome)[keyof typeof ForwardOutcome];

/** Counts of one target, as `/_sluice/targets/<name>` shows them under `batchState.fleet`. */
export interface FleetCounts {
  forwardsSent: number;
  forwardsReplied: number;
  forwardsCut: number;
  forwardsServed: number;
  ownerFallbacks: Record<string, number>;
  /** Flights this node made itself although another node owns the key: cold keys (not forwarded). */
  coldLocal: number;
  /** Forwards served here by a call that answered other clients too. */
  callsSaved: number;
}

export const emptyCounts = (): FleetCounts => ({
  forwardsSent: 0, forwardsReplied: 0, forwardsCut: 0, forwardsServed: 0, ownerFallbacks: {}, coldLocal: 0, callsSaved: 0,
});

export class FleetMetrics {
  private static readonly cache = new WeakMap<NodeMetrics, FleetMetrics>();

  static for(metrics: NodeMetrics): FleetMetrics {
    let m = FleetMetrics.cache.get(metrics);
    if (!m) { m = new FleetMetrics(metrics); FleetMetrics.cache.set(metrics, m); }
    return m;
  }

  readonly sent: Counter<'target' | 'outcome'>;
  readonly served: Counter<'target'>;
  readonly fallbacks: Counter<'target' | 'reason'>;
  readonly saved: Counter<'target'>;
  readonly coldLocal: Counter<'target'>;
  readonly malformed: Counter;

  private constructor(metrics: NodeMetrics) {
    const registers = [metrics.registry];
    this.sent = new Counter({
      name: 'sluice_fleet_forwards_sent_total', help: 'Flights forwarded to the key\'s owner (batch.scope cluster), by outcome',
      labelNames: ['target', 'outcome'] as const, registers,
    });
    this.served = new Counter({
      name: 'sluice_fleet_forwards_served_total', help: 'Flights forwarded by other nodes and answered here as the key\'s owner',
      labelNames: ['target'] as const, registers,
    });
    this.fallbacks = new Counter({
      name: 'sluice_fleet_owner_fallbacks_total', help: 'Forwards the owner did not answer in time (or refused): the call was made here',
      labelNames: ['target', 'reason'] as const, registers,
    });
    this.saved = new Counter({
      name: 'sluice_fleet_calls_saved_total', help: 'Upstream calls cluster scope saved: forwards served here by a call shared with other clients',
      labelNames: ['target'] as const, registers,
    });
    this.coldLocal = new Counter({
      name: 'sluice_fleet_cold_local_total', help: 'Flights for keys another node owns made here because the key was cold (not forwarded)',
      labelNames: ['target'] as const, registers,
    });
    this.malformed = new Counter({
      name: 'sluice_fleet_malformed_total', help: 'Forwarding messages dropped: malformed, or about a forward not held here', registers,
    });
  }
}

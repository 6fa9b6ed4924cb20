// What a target runtime is built with: the node's shared parts (clock, bus, metrics, membership,
// gossip, the strict singleton). Its own module so the parts a runtime builds (limits, batching) can
// name it without importing the runtime back.
import type { Clock, Scheduler } from '../clock.ts';
import type { Config, LimitConfig, TargetConfig } from '../config/schema.ts';
import type { Bus } from '../bus/bus.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { Membership } from './membership.ts';
import type { SingletonView } from './singleton-view.ts';
import type { LimitEnforcer } from './limits/enforcer.ts';
import type { LimitGossip } from './limits/gossip.ts';
import type { FleetScope } from './fleet/fleet-scope.ts';
import type { CacheTier } from './cache/cache-tier.ts';

/** Builds a `mode: strict` enforcer (src/actors/limits/strict-enforcer.ts, loaded at node start). */
export type StrictEnforcerFactory = (limit: LimitConfig, target: TargetConfig, deps: TargetDeps) => LimitEnforcer;

export interface TargetDeps {
  nodeId: string;
  clusterName: string;
  clock: Clock;
  /** Where the batch registry ends an event-loop turn's work; default `realScheduler` (setImmediate). */
  afterTurn?: Scheduler | undefined;
  bus: Bus;
  metrics: NodeMetrics;
  random: () => number;
  membership: Membership;
  /** The cluster section: syncMs for gossip, heartbeat timings. */
  cluster: Config['cluster'];
  /** The node's one gossip actor for approximate limits; without it a runtime gossips on its own. */
  limitGossip?: LimitGossip | undefined;
  /** Builds `mode: strict` enforcers, when the node has the strict limiter (loaded at node start). */
  createStrictEnforcer?: StrictEnforcerFactory | undefined;
  /** The node's strict singleton (election + holder view): every strict enforcer of the node shares it. */
  singleton?: SingletonView | undefined;
  log?: ((line: string, fields?: Record<string, unknown>) => void) | undefined;
  /** The node's fleet scope (forwarding to key owners); used by targets with `batch.scope: cluster`. */
  fleet?: FleetScope | undefined;
  /** The shared tier for `cache.store: "jetstream"`, when the node has one (the NATS bus). */
  cacheTier?: ((target: TargetConfig) => CacheTier | undefined) | undefined;
}

// Limiter stacks without a SluiceNode for actor-level tests: per node a LocalBus endpoint, a
// Membership, the node's LimitGossip and a target's ConfiguredLimits, all on one VirtualClock.
import { VirtualClock } from '../../../src/clock.ts';
import { LocalNetwork, type NetworkFaults } from '../../../src/bus/local-bus.ts';
import { parseTarget } from '../../../src/config/load.ts';
import type { Config, TargetConfig } from '../../../src/config/schema.ts';
import { Membership } from '../../../src/actors/membership.ts';
import { LimitGossip } from '../../../src/actors/limits/gossip.ts';
import { ConfiguredLimits } from '../../../src/actors/limits/target-limits.ts';
import type { TargetDeps } from '../../../src/actors/target-runtime.ts';
import { NodeMetrics } from '../../../src/metrics.ts';

export interface Stack {
  id: string;
  membership: Membership;
  gossip: LimitGossip;
  limits: ConfiguredLimits;
  metrics: NodeMetrics;
  deps: TargetDeps;
  start(): void;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  startAt?: number;
  faults?: NetworkFaults;
  cluster?: Partial<Config['cluster']>;
  random?: () => number;
  catchUpMs?: number;
  fullStateEveryMs?: number;
}

export class SimCluster {
  readonly clock: VirtualClock;
  readonly network: LocalNetwork;
  readonly cluster: Config['cluster'];
  readonly stacks: Stack[] = [];

  constructor(private readonly o: ClusterOptions = {}) {
    this.clock = new VirtualClock(o.startAt ?? 1_700_000_000_000);
    this.network = new LocalNetwork(this.clock, o.faults ?? {});
    this.cluster = { name: 'sim', heartbeatMs: 200, deadAfterMs: 2_000, syncMs: 20, ...o.cluster };
  }

  /** Builds (not starts) a stack for `id` with `target`'s limits. */
  add(id: string, target: Record<string, unknown>): Stack {
    const t: TargetConfig = parseTarget({ prefix: '/t', replicas: ['http://127.0.0.1:1'], ...target });
    const bus = this.network.connect(id);
    const clock = this.clock;
    const membership = new Membership(bus, clock, { nodeId: id, cluster: this.cluster.name, heartbeatMs: this.cluster.heartbeatMs, deadAfterMs: this.cluster.deadAfterMs });
    const random = this.o.random ?? Math.random;
    const gossip = new LimitGossip(bus, clock, {
      nodeId: id, cluster: this.cluster.name, syncMs: this.cluster.syncMs, membership, random,
      ...(this.o.catchUpMs !== undefined ? { catchUpMs: this.o.catchUpMs } : {}),
      ...(this.o.fullStateEveryMs !== undefined ? { fullStateEveryMs: this.o.fullStateEveryMs } : {}),
    });
    const metrics = new NodeMetrics({ node: id });
    const deps: TargetDeps = {
      nodeId: id, clusterName: this.cluster.name, clock, bus, metrics, random, membership, cluster: this.cluster, limitGossip: gossip,
    };
    let limits!: ConfiguredLimits;
    const stack: Stack = {
      id, membership, gossip, metrics, deps,
      get limits() { return limits; },
      start: () => {
        membership.start();
        gossip.start();
        limits = new ConfiguredLimits(t, deps, { gossip });
      },
      stop: async () => {
        await limits.close();
        gossip.stop();
        membership.stop();
        await bus.close();
      },
    };
    this.stacks.push(stack);
    return stack;
  }
}

/** Admits one upstream call; true when admitted, false on 429. */
export async function tryCall(limits: ConfiguredLimits, tokens = 0): Promise<boolean> {
  try {
    await limits.admitUpstreamCall({ requests: 1, tokens });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'SLUICE_RATE_LIMITED') return false;
    throw err;
  }
}

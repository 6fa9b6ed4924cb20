// Everything one target needs at run time, built from its config: the replicas and, as the features
// land, its batch registry, limiters, pacer and breakers. Replaced whole when the admin API updates the
// target; the old one finishes its in-flight calls and closes.
import type { Clock } from '../clock.ts';
import type { TargetConfig } from '../config/schema.ts';
import type { Bus } from '../bus/bus.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { RequestContext } from '../http/request-context.ts';
import { passThrough } from '../http/pass-through.ts';
import { RoundRobinReplicas, type Dispatch } from './replica-set.ts';

export interface TargetDeps {
  nodeId: string;
  clusterName: string;
  clock: Clock;
  bus: Bus;
  metrics: NodeMetrics;
  random: () => number;
}

export class TargetRuntime {
  readonly dispatch: Dispatch;

  constructor(readonly config: TargetConfig, readonly deps: TargetDeps) {
    this.dispatch = new RoundRobinReplicas(config, deps.metrics, deps.clock);
  }

  get name(): string { return this.config.name; }

  handle(ctx: RequestContext): Promise<void> {
    return passThrough(ctx, this);
  }

  describe(): Record<string, unknown> {
    return { ...this.config, replicaState: this.dispatch.describe() };
  }

  async close(): Promise<void> {
    await this.dispatch.close();
  }
}

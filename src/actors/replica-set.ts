// The replicas of one target and how a call picks one. This first cut rotates over replicas and
// fails over to the next on a connect error; least-loaded dispatch, breakers and retry budgets
// replace the choice here (issue #7) without changing the interface.
import type { Clock } from '../clock.ts';
import type { TargetConfig } from '../config/schema.ts';
import type { NodeMetrics } from '../metrics.ts';
import { ReplicaClient, type UpstreamCall, type UpstreamReply } from '../http/upstream-client.ts';

export interface DispatchOptions {
  /** Safe to send twice (idempotent method, or a batch its strategy marks safe). */
  idempotent: boolean;
  /** Session key for affinity, when the target configures one. */
  affinityKey?: string | undefined;
}

export interface DispatchResult { reply: UpstreamReply; replica: string }

export interface Dispatch {
  call(c: UpstreamCall, o: DispatchOptions): Promise<DispatchResult>;
  describe(): unknown;
  close(): Promise<void>;
}

export class RoundRobinReplicas implements Dispatch {
  private readonly clients: ReplicaClient[];
  private next = 0;

  constructor(private readonly target: TargetConfig, private readonly metrics: NodeMetrics, private readonly clock: Clock) {
    this.clients = target.replicas.map((url) => new ReplicaClient(new URL(url).origin, {
      connections: target.dispatch.concurrency, timeoutMs: target.timeoutMs,
    }));
    this.basePaths = target.replicas.map((url) => new URL(url).pathname.replace(/\/$/, ''));
  }

  private readonly basePaths: string[];

  async call(c: UpstreamCall): Promise<DispatchResult> {
    const i = this.next++ % this.clients.length;
    const client = this.clients[i]!;
    const startedAt = this.clock.now();
    const labels = { target: this.target.name, replica: client.origin };
    try {
      const reply = await client.call({ ...c, path: this.basePaths[i] + c.path });
      this.metrics.upstreamCalls.inc({ ...labels, outcome: `${Math.floor(reply.status / 100)}xx` });
      this.metrics.upstreamDuration.observe({ target: this.target.name }, (this.clock.now() - startedAt) / 1000);
      return { reply, replica: client.origin };
    } catch (err) {
      this.metrics.upstreamCalls.inc({ ...labels, outcome: 'error' });
      throw err;
    }
  }

  describe(): unknown {
    return this.clients.map((c) => ({ replica: c.origin }));
  }

  async close(): Promise<void> { await Promise.all(this.clients.map((c) => c.close())); }
}

// The replicas of one target and how a call picks one. This first cut rotates over replicas and
// fails over to the next on a connect error; least-loaded dispatch, breakers and retry budgets
// replace the choice here (issue #7) without changing the interface.
import type { TargetConfig } from '../config/schema.ts';
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

  constructor(target: TargetConfig) {
    this.clients = target.replicas.map((url) => new ReplicaClient(new URL(url).origin, {
      connections: target.dispatch.concurrency, timeoutMs: target.timeoutMs,
    }));
    this.basePaths = target.replicas.map((url) => new URL(url).pathname.replace(/\/$/, ''));
  }

  private readonly basePaths: string[];

  async call(c: UpstreamCall): Promise<DispatchResult> {
    const i = this.next++ % this.clients.length;
    const client = this.clients[i]!;
    const reply = await client.call({ ...c, path: this.basePaths[i] + c.path });
    return { reply, replica: client.origin };
  }

  describe(): unknown {
    return this.clients.map((c) => ({ replica: c.origin }));
  }

  async close(): Promise<void> { await Promise.all(this.clients.map((c) => c.close())); }
}

// One `mode: approximate` limit on one node: decisions are local and immediate, from the merged
// cluster total the gossip actor keeps current (see src/limit/approximate-limiter.ts for the rule and
// its over-admission bound). Until the limiter has caught up with the cluster, decisions wait for it.
import type { Clock } from '../../clock.ts';
import type { LimitConfig } from '../../config/schema.ts';
import type { Decision } from '../../limit/decision.ts';
import { defaultStaleMs } from '../../limit/approximate-limiter.ts';
import { windowIdAt } from '../../limit/windows.ts';
import type { LimitEnforcer } from './enforcer.ts';
import type { LimitGossip, LimiterLease } from './gossip.ts';
import { TARGET_KEY } from './limit-key.ts';

export interface ApproximateEnforcerInput {
  /** Unique across the cluster for this limit: `<target>/<limit name>`. */
  id: string;
  limit: LimitConfig;
  syncMs: number;
  clock: Clock;
}

export class ApproximateEnforcer implements LimitEnforcer {
  readonly config: LimitConfig;
  private readonly lease: LimiterLease;
  private readonly clock: Clock;
  /** Highest cluster total seen for any key in `seenWindow` (for the "cluster total seen" metric). */
  private seenTotal = 0;
  private seenWindow = Number.NaN;

  constructor(input: ApproximateEnforcerInput, gossip: LimitGossip) {
    this.config = input.limit;
    this.clock = input.clock;
    const l = input.limit;
    this.lease = gossip.acquire(input.id, {
      name: l.name, limit: l.limit, windowMs: l.windowMs, degraded: l.degraded, enforce: l.enforce,
      staleMs: l.staleMs ?? defaultStaleMs(input.syncMs),
    });
  }

  admit(key: string, cost: number, now: number, signal?: AbortSignal): Decision | Promise<Decision> {
    // After the wait the window may have moved on: decide at the time the wait ended.
    if (!this.lease.ready) return this.lease.whenReady(signal).then(() => this.decide(key, cost, this.clock.now()));
    return this.decide(key, cost, now);
  }

  reconcile(key: string, windowId: number, estimated: number, actual: number, now: number): void {
    this.lease.limiter.reconcile(key, windowId, estimated, actual, now);
  }

  /**
   * The merged cluster total of the current window as this node sees it: of the one key of a
   * `per: target` limit, or the highest of any key this node decided on.
   */
  clusterTotalSeen(now: number): number {
    if (this.config.per === 'target') return this.lease.limiter.spent(TARGET_KEY, now);
    return windowIdAt(now, this.config.windowMs) === this.seenWindow ? this.seenTotal : 0;
  }

  degraded(now: number): boolean {
    return this.lease.limiter.health(now).degraded;
  }

  describe(): unknown {
    const l = this.lease.limiter;
    const now = this.clock.now();
    return {
      name: l.name, mode: 'approximate', id: this.lease.id, ready: this.lease.ready,
      clusterTotal: this.clusterTotalSeen(now), health: l.health(now), stats: l.stats,
    };
  }

  async close(): Promise<void> {
    this.lease.release();
  }

  private decide(key: string, cost: number, now: number): Decision {
    const d = this.lease.limiter.admit(key, cost, now);
    if (this.config.per === 'target') return d; // its total is read from the limiter at scrape time
    const total = this.lease.limiter.spent(key, now);
    if (d.windowId !== this.seenWindow) {
      this.seenWindow = d.windowId;
      this.seenTotal = 0;
    }
    if (total > this.seenTotal) this.seenTotal = total;
    return d;
  }
}

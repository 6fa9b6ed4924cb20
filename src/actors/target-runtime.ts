// Everything one target needs at run time, built from its config: its limits, batch registry, pacer
// and replicas. Replaced whole when the admin API updates the target; the old one finishes its
// in-flight calls and closes.
//
// Request path, read one way: the HTTP handlers (src/http/target-handler.ts) call into this runtime
// and write what they receive; nothing here knows the HTTP layer. Limits per client (admitRequest) →
// batching (coalesce / merge: `batching`) or pass-through → callUpstream: limits per target
// (admitUpstreamCall) → pacer → dispatch (replica, breaker, retry).
import type { IncomingHttpHeaders } from 'node:http';
import type { TargetConfig } from '../config/schema.ts';
import type { RequestContext } from '../proxy/request-context.ts';
import type { UpstreamCall } from '../proxy/upstream-client.ts';
import { createBatching, type Batching } from './batching/batching.ts';
import type { FleetScope } from './fleet/fleet-scope.ts';
import { TargetCache } from './cache/target-cache.ts';
import type { Dispatch } from './replica-set.ts';
import { affinityKeyOf, Dispatcher } from './dispatcher.ts';
import { ADMIT_ALL, noLimits, noPacing, type Admission, type TargetCalls, type TargetLimits, type UpstreamCallOptions, type UpstreamCallResult, type UpstreamPacer } from './target-parts.ts';
import type { TargetDeps } from './target-deps.ts';
import { ConfiguredLimits } from './limits/target-limits.ts';
import { tokenEstimateOnce } from './limits/token-cost.ts';
import { GcraUpstreamPacer } from './pacer.ts';

export type { TargetDeps } from './target-deps.ts';
export type { TargetCalls, UpstreamCallOptions, UpstreamCallResult } from './target-parts.ts';

export class TargetRuntime implements TargetCalls {
  readonly dispatch: Dispatch;
  readonly limits: TargetLimits;
  readonly pacer: UpstreamPacer;
  /** Coalesce or merge for `batch.methods`; undefined in mode `none`. */
  readonly batching: Batching | undefined;
  /** Set with `batch.scope: cluster`: flights of keys another node owns may go to that node. */
  readonly fleet: FleetScope | undefined;
  /** The response cache, when `cache.enabled` (src/http/cache-front.ts answers from it). */
  readonly cache: TargetCache | undefined;

  constructor(readonly config: TargetConfig, readonly deps: TargetDeps) {
    this.dispatch = new Dispatcher(config, { clock: deps.clock, random: deps.random, metrics: deps.metrics, log: deps.log });
    this.limits = config.limits.length > 0
      ? new ConfiguredLimits(config, deps, { gossip: deps.limitGossip, strict: deps.createStrictEnforcer, log: deps.log })
      : noLimits;
    this.pacer = config.pace ? new GcraUpstreamPacer(config.pace, deps.clock) : noPacing;
    this.fleet = config.batch.scope === 'cluster' ? deps.fleet : undefined;
    this.batching = createBatching(this, deps);
    this.cache = config.cache.enabled
      ? new TargetCache({ ...config.cache, public: config.public }, {
        target: config.name, clock: deps.clock, metrics: deps.metrics, log: deps.log,
        tier: config.cache.store === 'jetstream' ? deps.cacheTier?.(config) : undefined,
      })
      : undefined;
  }

  get name(): string { return this.config.name; }

  /** The session key for `dispatch.affinity` (header or cookie): pass it as `affinityKey` to callUpstream. */
  affinityKeyOf(headers: IncomingHttpHeaders): string | undefined { return affinityKeyOf(this.config, headers); }

  /**
   * Per-client limits for one request. `body` is passed when already buffered (merge mode, or when a
   * limit counts tokens) so the token estimate can read it.
   */
  admitRequest(ctx: RequestContext, body?: Buffer): Admission | Promise<Admission> {
    // Without limits there is nothing to wait for: answering synchronously saves the promise hops
    // on the hot path of every unlimited target.
    // A forwarded flight was admitted where its clients arrived.
    if (this.limits === noLimits || ctx.forwarded) return ADMIT_ALL;
    const tokens = this.limits.countsTokens ? tokenEstimateOnce(ctx, this.config.limits, ctx.req.headers, body) : 0;
    const cost = { requests: 1, tokens };
    return this.limits.admitRequestNow ? this.limits.admitRequestNow(ctx, cost) : this.limits.admitRequest(ctx, cost);
  }

  /** One upstream call: per-target limits, then pacing, then a replica. */
  async callUpstream(call: UpstreamCall, o: UpstreamCallOptions): Promise<UpstreamCallResult> {
    const limits = this.limits;
    const admitted = limits === noLimits ? ADMIT_ALL
      : limits.admitUpstreamCallNow ? limits.admitUpstreamCallNow(o.cost, o.signal) : limits.admitUpstreamCall(o.cost, o.signal);
    const admission = admitted instanceof Promise ? await admitted : admitted;
    try {
      if (this.pacer !== noPacing) await this.pacer.acquire(o.signal);
      const { reply, replica } = await this.dispatch.call(call, o);
      return { reply, replica, admission };
    } catch (err) {
      admission.cancel();
      throw err;
    }
  }

  describe(): Record<string, unknown> {
    return {
      ...this.config, replicaState: this.dispatch.describe(), limitState: this.limits.describe(), paceState: this.pacer.describe(),
      batchState: this.batching ? { ...this.batching.describe(), fleet: this.fleet?.describe(this.name) ?? { scope: 'node' } } : null,
      cacheState: this.cache?.stats() ?? null,
    };
  }

  async close(): Promise<void> {
    await this.batching?.close(); // its waiters are answered before the parts below go
    this.pacer.close();
    await this.limits.close();
    await this.dispatch.close();
    await this.cache?.close();
  }
}

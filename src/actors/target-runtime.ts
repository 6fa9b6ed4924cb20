// Everything one target needs at run time, built from its config: its limits, batch registry, pacer
// and replicas. Replaced whole when its config changes (reload, admin PUT): the new runtime takes over
// the live breakers and limit enforcers whose config did not change (src/reload/plan.ts says which),
// and the old one finishes its in-flight requests (retire) before it closes.
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
import type { TargetCarryOver } from '../reload/plan.ts';

export type { TargetDeps } from './target-deps.ts';
export type { TargetCalls, UpstreamCallOptions, UpstreamCallResult } from './target-parts.ts';

/** The runtime a new one replaces, and what it takes over from it. */
export interface Predecessor { readonly runtime: TargetRuntime; readonly carry: TargetCarryOver }

export class TargetRuntime implements TargetCalls {
  readonly dispatch: Dispatch;
  private readonly dispatcher: Dispatcher;
  private readonly configured: ConfiguredLimits | undefined;
  /** Requests being served (the gateway counts them in and out); retire() waits for none. */
  private active = 0;
  private idle: (() => void) | undefined;
  private cacheGiven = false;
  readonly limits: TargetLimits;
  readonly pacer: UpstreamPacer;
  /** Coalesce or merge for `batch.methods`; undefined in mode `none`. */
  readonly batching: Batching | undefined;
  /** Set with `batch.scope: cluster`: flights of keys another node owns may go to that node. */
  readonly fleet: FleetScope | undefined;
  /** The response cache, when `cache.enabled` (src/http/cache-front.ts answers from it). */
  readonly cache: TargetCache | undefined;

  constructor(readonly config: TargetConfig, readonly deps: TargetDeps, from?: Predecessor) {
    // Taken over before anything new is built, so no state is created twice.
    const breakers = from?.runtime.dispatcher.giveBreakers(from.carry.breakers);
    const enforcers = from?.runtime.configured?.giveEnforcers(from.carry.limits);
    this.dispatch = this.dispatcher = new Dispatcher(config, { clock: deps.clock, random: deps.random, metrics: deps.metrics, log: deps.log, breakers });
    this.configured = config.limits.length > 0
      ? new ConfiguredLimits(config, deps, { gossip: deps.limitGossip, strict: deps.createStrictEnforcer, log: deps.log }, enforcers)
      : undefined;
    this.limits = this.configured ?? noLimits;
    this.pacer = config.pace ? new GcraUpstreamPacer(config.pace, deps.clock) : noPacing;
    this.fleet = config.batch.scope === 'cluster' ? deps.fleet : undefined;
    this.batching = createBatching(this, deps);
    // An unchanged cache section (and `public`) keeps the live cache: its entries, stats and tier.
    const kept = from?.carry.cache ? from.runtime.giveCache() : undefined;
    this.cache = kept ?? (config.cache.enabled
      ? new TargetCache({ ...config.cache, public: config.public }, {
        target: config.name, clock: deps.clock, metrics: deps.metrics, log: deps.log,
        tier: config.cache.store === 'jetstream' ? deps.cacheTier?.(config) : undefined,
      })
      : undefined);
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
    const admitted = this.limits.admitRequestNow ? this.limits.admitRequestNow(ctx, cost) : this.limits.admitRequest(ctx, cost);
    if (!(admitted instanceof Promise)) { ctx.access.limit = 'admitted'; return admitted; }
    return admitted.then((a) => { ctx.access.limit = 'admitted'; return a; }); // a refusal is noted where it is answered
  }

  /** One upstream call: per-target limits, then pacing, then a replica. */
  async callUpstream(call: UpstreamCall, o: UpstreamCallOptions): Promise<UpstreamCallResult> {
    const limits = this.limits;
    const admitted = limits === noLimits ? ADMIT_ALL
      : limits.admitUpstreamCallNow ? limits.admitUpstreamCallNow(o.cost, o.signal) : limits.admitUpstreamCall(o.cost, o.signal);
    const admission = admitted instanceof Promise ? await admitted : admitted;
    try {
      if (this.pacer !== noPacing) await this.pacer.acquire(o.signal);
      const startedAt = this.deps.clock.now();
      const { reply, replica } = await this.dispatch.call(call, o);
      return { reply, replica, admission, upstreamMs: this.deps.clock.now() - startedAt };
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

  /** The gateway counts each request it hands to this runtime in (begin) and, once answered, out (end). */
  begin(): void { this.active++; }
  end(): void { if (--this.active === 0) this.idle?.(); }

  /** Requests this runtime is serving. */
  get inFlight(): number { return this.active; }

  /** After it was replaced or removed: lets its in-flight requests finish (up to `maxMs`), then closes. */
  async retire(maxMs: number): Promise<void> {
    if (this.active > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.deps.clock.setTimeout(() => resolve(), maxMs);
        this.idle = () => { this.deps.clock.clearTimeout(timer); resolve(); };
      });
    }
    await this.close();
  }

  /** Hands the live cache to the runtime replacing this one; this one then leaves it open on close. */
  private giveCache(): TargetCache | undefined {
    this.cacheGiven = true;
    return this.cache;
  }

  async close(): Promise<void> {
    await this.batching?.close(); // its waiters are answered before the parts below go
    this.pacer.close();
    await this.limits.close();
    await this.dispatch.close();
    if (!this.cacheGiven) await this.cache?.close();
  }
}

// Every configured limit of one target, as one TargetLimits. Limits `per: target` are checked once
// per upstream call (a whole batch costs one request and its token estimate); limits per client key
// once per client request. All limits that apply must admit: a refusal by one gives back what the
// others reserved. Over the limit, `onLimit: reject` throws RateLimitedError (429 with Retry-After
// and RateLimit-*); `onLimit: queue` waits on the clock until the window that can admit the request,
// up to maxQueueMs, abandoning the wait when the client leaves.
import type { Clock } from '../../clock.ts';
import type { LimitConfig, TargetConfig } from '../../config/schema.ts';
import { RateLimitedError } from '../../errors.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Decision } from '../../limit/decision.ts';
import { ADMIT_ALL, type Admission, type Cost, type TargetLimits } from '../target-parts.ts';
import type { TargetDeps } from '../target-runtime.ts';
import { answerHeaders, H_DEGRADED, rateLimitHeaders } from './answer-headers.ts';
import { createEnforcer, type EnforcerServices } from './enforcer-factory.ts';
import type { LimitEnforcer } from './enforcer.ts';
import { LimitGossip } from './gossip.ts';
import { isPerTarget, limitKey, TARGET_KEY, type KeySource } from './limit-key.ts';
import { limitMetricsFor, type LimitMetrics } from './limit-metrics.ts';
import { waitOn } from './wait.ts';

interface Entry { config: LimitConfig; enforcer: LimitEnforcer }

interface Reservation { entry: Entry; key: string; windowId: number; units: number }

export class ConfiguredLimits implements TargetLimits {
  readonly countsTokens: boolean;
  private readonly perTarget: Entry[];
  private readonly perClient: Entry[];
  private readonly clock: Clock;
  private readonly metrics: LimitMetrics;
  private readonly unwatch: Array<() => void> = [];
  /** A gossip actor of our own when the node gave us none (a runtime built outside SluiceNode). */
  private readonly ownGossip: LimitGossip | undefined;
  private waiting = 0;

  constructor(private readonly target: TargetConfig, deps: TargetDeps, services?: Partial<EnforcerServices>) {
    this.clock = deps.clock;
    this.metrics = limitMetricsFor(deps.metrics, deps.clock);
    let gossip = services?.gossip;
    if (!gossip) {
      gossip = this.ownGossip = new LimitGossip(deps.bus, deps.clock, {
        nodeId: deps.nodeId, cluster: deps.clusterName, syncMs: deps.cluster.syncMs, random: deps.random, membership: deps.membership,
      });
      gossip.start();
    }
    const full: EnforcerServices = { gossip, strict: services?.strict, log: services?.log ?? (() => {}) };
    // Approximate limits answer at once; strict ones may ask the singleton. Check the cheap ones
    // first so a refusal there costs no round trip.
    const entries = [...target.limits]
      .sort((a, b) => Number(a.mode === 'strict') - Number(b.mode === 'strict'))
      .map((config) => ({ config, enforcer: createEnforcer(config, target, deps, full) }));
    for (const e of entries) this.unwatch.push(this.metrics.watch(target.name, e.enforcer));
    this.perTarget = entries.filter((e) => isPerTarget(e.config.per));
    this.perClient = entries.filter((e) => !isPerTarget(e.config.per));
    this.countsTokens = target.limits.some((l) => l.dimension === 'tokens');
  }

  admitRequest(ctx: RequestContext, cost: Cost): Promise<Admission> {
    const source: KeySource = { clientIp: ctx.clientIp, headers: ctx.req.headers };
    return this.admit(this.perClient, (l) => limitKey(l.per, source), cost, ctx.clientGone);
  }

  admitUpstreamCall(cost: Cost, signal?: AbortSignal): Promise<Admission> {
    return this.admit(this.perTarget, () => TARGET_KEY, cost, signal);
  }

  /** Requests waiting in a queue for their window. */
  get queued(): number { return this.waiting; }

  describe(): unknown {
    return [...this.perTarget, ...this.perClient].map((e) => ({ ...e.config, state: e.enforcer.describe() }));
  }

  async close(): Promise<void> {
    for (const u of this.unwatch.splice(0)) u();
    await Promise.all([...this.perTarget, ...this.perClient].map((e) => e.enforcer.close()));
    this.ownGossip?.stop();
  }

  private async admit(entries: readonly Entry[], keyOf: (l: LimitConfig) => string, cost: Cost, signal?: AbortSignal): Promise<Admission> {
    if (entries.length === 0) return ADMIT_ALL;
    const startedAt = this.clock.now();
    let queued = false;
    for (;;) {
      const now = this.clock.now();
      const reserved: Reservation[] = [];
      const decisions: Decision[] = [];
      let refused: { entry: Entry; decision: Decision; units: number } | undefined;
      for (const entry of entries) {
        const units = wholeUnits(entry.config.dimension === 'tokens' ? cost.tokens : cost.requests);
        const key = keyOf(entry.config);
        let d: Decision;
        try {
          const r = entry.enforcer.admit(key, units, now, signal);
          d = r instanceof Promise ? await r : r;
        } catch (err) {
          this.giveBack(reserved);
          throw err;
        }
        if (!d.allowed) {
          refused = { entry, decision: d, units };
          break;
        }
        reserved.push({ entry, key, windowId: d.windowId, units });
        decisions.push(d);
      }
      if (!refused) {
        for (const d of decisions) this.metrics.count(this.target.name, d.limitName, d.wouldLimit ? 'would_limit' : 'admitted');
        return this.admission(reserved, decisions);
      }
      this.giveBack(reserved);
      const { entry, decision: d, units } = refused;
      const l = entry.config;
      const waitMs = Math.max(1, d.retryAfterMs);
      // Queue only when waiting can help: the cost fits a window at all and the wait ends in time.
      if (l.onLimit === 'queue' && units <= l.limit && this.clock.now() + waitMs <= startedAt + l.maxQueueMs) {
        if (!queued) this.metrics.count(this.target.name, l.name, 'queued');
        queued = true;
        this.waiting++;
        try {
          await waitOn(this.clock, waitMs, signal);
        } finally {
          this.waiting--;
        }
        continue;
      }
      this.metrics.count(this.target.name, l.name, 'limited');
      const headers = rateLimitHeaders(d, this.clock.now());
      if (d.degraded) headers[H_DEGRADED] = l.name;
      throw new RateLimitedError(l.name, d.retryAfterMs, headers);
    }
  }

  private admission(reserved: Reservation[], decisions: Decision[]): Admission {
    let done = false;
    return {
      headers: answerHeaders(decisions, this.clock.now()),
      settle: (usage) => {
        if (done) return;
        done = true;
        if (usage.tokens === undefined) return;
        const now = this.clock.now();
        for (const r of reserved) {
          if (r.entry.config.dimension === 'tokens') r.entry.enforcer.reconcile(r.key, r.windowId, r.units, usage.tokens, now);
        }
      },
      cancel: () => {
        if (done) return;
        done = true;
        this.giveBack(reserved);
      },
    };
  }

  private giveBack(reserved: readonly Reservation[]): void {
    const now = this.clock.now();
    for (const r of reserved) r.entry.enforcer.reconcile(r.key, r.windowId, r.units, 0, now);
  }
}

/** Costs are whole non-negative units; a fractional or bad estimate must not turn into a 400. */
const wholeUnits = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0);

// Every configured limit of one target, as one TargetLimits. Limits `per: target` are checked once
// per upstream call (a whole batch costs one request and its token estimate); limits per client key
// once per client request. All limits that apply must admit: a refusal by one gives back what the
// others reserved. Over the limit, `onLimit: reject` throws RateLimitedError (429 with Retry-After
// and RateLimit-*); `onLimit: queue` waits on the clock until the window that can admit the request,
// up to maxQueueMs, abandoning the wait when the client leaves.
// Every request passes here, so the admitted path is synchronous and allocates little.
import type { Clock } from '../../clock.ts';
import type { TargetConfig } from '../../config/schema.ts';
import { RateLimitedError } from '../../errors.ts';
import type { RequestContext } from '../../proxy/request-context.ts';
import type { Decision } from '../../limit/decision.ts';
import { ADMIT_ALL, type Admission, type Cost, type TargetLimits } from '../target-parts.ts';
import type { TargetDeps } from '../target-deps.ts';
import { H_DEGRADED, H_WOULD_LIMIT, answerHeaders, rateLimitHeaders, type AnswerHeaders } from './answer-headers.ts';
import { createEnforcer, type EnforcerServices } from './enforcer-factory.ts';
import type { LimitEnforcer } from './enforcer.ts';
import { LimitGossip } from './gossip.ts';
import { isPerTarget, limitKey, type KeySource } from './limit-key.ts';
import { limitMetricsFor, type DecisionCounts } from './limit-metrics.ts';
import { waitOn } from './wait.ts';

interface Entry { config: TargetConfig['limits'][number]; enforcer: LimitEnforcer; counts: DecisionCounts }

interface Reservation { entry: Entry; key: string; units: number; decision: Decision }

interface Refusal { entry: Entry; units: number; decision: Decision }

type Outcome = LimitAdmission | Refusal;

/** Upstream calls are keyed by nothing but the target. */
const NO_CLIENT: KeySource = { clientIp: '', headers: {} };

export class ConfiguredLimits implements TargetLimits {
  readonly countsTokens: boolean;
  private readonly perTarget: Entry[];
  private readonly perClient: Entry[];
  private readonly clock: Clock;
  private readonly unwatch = new Map<string, () => void>();
  /** Enforcers handed to the runtime replacing this one (config reload): theirs to close. */
  private readonly given = new Set<LimitEnforcer>();
  /** A gossip actor of our own when the node gave us none (a runtime built outside SluiceNode). */
  private readonly ownGossip: LimitGossip | undefined;
  private waiting = 0;

  /** `carried`: live enforcers, by limit name, taken over from the runtime this one replaces (src/reload). */
  constructor(target: TargetConfig, deps: TargetDeps, services?: Partial<EnforcerServices>, carried?: ReadonlyMap<string, LimitEnforcer>) {
    this.clock = deps.clock;
    const metrics = limitMetricsFor(deps.metrics, deps.clock);
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
    const entries: Entry[] = [...target.limits]
      .sort((a, b) => Number(a.mode === 'strict') - Number(b.mode === 'strict'))
      .map((config) => ({
        config, enforcer: carried?.get(config.name) ?? createEnforcer(config, target, deps, full), counts: metrics.countsFor(target.name, config.name),
      }));
    for (const e of entries) this.unwatch.set(e.config.name, metrics.watch(target.name, e.enforcer));
    this.perTarget = entries.filter((e) => isPerTarget(e.config.per));
    this.perClient = entries.filter((e) => !isPerTarget(e.config.per));
    this.countsTokens = target.limits.some((l) => l.dimension === 'tokens');
  }

  admitRequest(ctx: RequestContext, cost: Cost): Promise<Admission> {
    return Promise.resolve(this.admitRequestNow(ctx, cost));
  }

  admitUpstreamCall(cost: Cost, signal?: AbortSignal): Promise<Admission> {
    return Promise.resolve(this.admitUpstreamCallNow(cost, signal));
  }

  admitRequestNow(ctx: RequestContext, cost: Cost): Admission | Promise<Admission> {
    if (this.perClient.length === 0) return ADMIT_ALL;
    return this.admit(this.perClient, { clientIp: ctx.clientIp, headers: ctx.req.headers }, cost, ctx.clientGone);
  }

  admitUpstreamCallNow(cost: Cost, signal?: AbortSignal): Admission | Promise<Admission> {
    if (this.perTarget.length === 0) return ADMIT_ALL;
    return this.admit(this.perTarget, NO_CLIENT, cost, signal);
  }

  /** Requests waiting in a queue for their window. */
  get queued(): number { return this.waiting; }

  describe(): unknown {
    return [...this.perTarget, ...this.perClient].map((e) => ({ ...e.config, state: e.enforcer.describe() }));
  }

  /**
   * Hands the live enforcers of `names` to the limits replacing these: admissions still in flight here
   * settle on them as before, and close() leaves them to their new owner.
   */
  giveEnforcers(names: readonly string[]): Map<string, LimitEnforcer> {
    const out = new Map<string, LimitEnforcer>();
    for (const e of [...this.perTarget, ...this.perClient]) {
      if (!names.includes(e.config.name)) continue;
      this.unwatch.get(e.config.name)?.();
      this.unwatch.delete(e.config.name);
      this.given.add(e.enforcer);
      out.set(e.config.name, e.enforcer);
    }
    return out;
  }

  async close(): Promise<void> {
    for (const u of this.unwatch.values()) u();
    this.unwatch.clear();
    await Promise.all([...this.perTarget, ...this.perClient].filter((e) => !this.given.has(e.enforcer)).map((e) => e.enforcer.close()));
    this.ownGossip?.stop();
  }

  /** Gives back what `reserved` holds (the call was not made, or another limit refused). */
  giveBack(reserved: readonly Reservation[]): void {
    const now = this.clock.now();
    for (const r of reserved) r.entry.enforcer.reconcile(r.key, r.decision.windowId, r.units, 0, now);
  }

  private admit(entries: readonly Entry[], source: KeySource, cost: Cost, signal?: AbortSignal): Admission | Promise<Admission> {
    const startedAt = this.clock.now();
    let first: Outcome | Promise<Outcome>;
    try {
      first = this.attempt(entries, source, cost, signal, startedAt);
    } catch (err) {
      return Promise.reject(err);
    }
    if (first instanceof LimitAdmission) return first;
    return this.untilAdmitted(entries, source, cost, signal, first, startedAt);
  }

  /** One pass over the limits, synchronous unless an enforcer has to wait (catching up, strict lease). */
  private attempt(entries: readonly Entry[], source: KeySource, cost: Cost, signal: AbortSignal | undefined, now: number): Outcome | Promise<Outcome> {
    const reserved: Reservation[] = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const units = wholeUnits(entry.config.dimension === 'tokens' ? cost.tokens : cost.requests);
      const key = limitKey(entry.config.per, source);
      let d: Decision | Promise<Decision>;
      try {
        d = entry.enforcer.admit(key, units, now, signal);
      } catch (err) {
        this.giveBack(reserved);
        throw err;
      }
      if (d instanceof Promise) return this.attemptRest(entries, source, cost, signal, i, reserved, d);
      if (!d.allowed) {
        this.giveBack(reserved);
        return { entry, units, decision: d };
      }
      reserved.push({ entry, key, units, decision: d });
    }
    return this.admitted(reserved, now);
  }

  /** `attempt` from entry `i` on, once an enforcer answered with a promise. */
  private async attemptRest(entries: readonly Entry[], source: KeySource, cost: Cost, signal: AbortSignal | undefined,
    from: number, reserved: Reservation[], pending: Promise<Decision>): Promise<Outcome> {
    for (let i = from; i < entries.length; i++) {
      const entry = entries[i]!;
      const units = wholeUnits(entry.config.dimension === 'tokens' ? cost.tokens : cost.requests);
      const key = limitKey(entry.config.per, source);
      let d: Decision;
      try {
        d = await (i === from ? pending : entry.enforcer.admit(key, units, this.clock.now(), signal));
      } catch (err) {
        this.giveBack(reserved);
        throw err;
      }
      if (!d.allowed) {
        this.giveBack(reserved);
        return { entry, units, decision: d };
      }
      reserved.push({ entry, key, units, decision: d });
    }
    return this.admitted(reserved, this.clock.now());
  }

  private admitted(reserved: Reservation[], now: number): LimitAdmission {
    for (const r of reserved) {
      if (r.decision.wouldLimit) r.entry.counts.would_limit++;
      else r.entry.counts.admitted++;
    }
    return new LimitAdmission(this, reserved, this.clock, now);
  }

  /** After a refusal: wait for the next window (queue mode) and try again, or answer 429. */
  private async untilAdmitted(entries: readonly Entry[], source: KeySource, cost: Cost, signal: AbortSignal | undefined,
    first: Outcome | Promise<Outcome>, startedAt: number): Promise<Admission> {
    let outcome = await first;
    let queued = false;
    for (;;) {
      if (outcome instanceof LimitAdmission) return outcome;
      const { entry, decision: d, units } = outcome;
      const l = entry.config;
      const waitMs = Math.max(1, d.retryAfterMs);
      // Queue only when waiting can help: the cost fits a window at all and the wait ends in time.
      if (l.onLimit === 'queue' && units <= l.limit && this.clock.now() + waitMs <= startedAt + l.maxQueueMs) {
        if (!queued) entry.counts.queued++;
        queued = true;
        this.waiting++;
        try {
          await waitOn(this.clock, waitMs, signal);
        } finally {
          this.waiting--;
        }
        outcome = await this.attempt(entries, source, cost, signal, this.clock.now());
        continue;
      }
      entry.counts.limited++;
      const headers = rateLimitHeaders(d, this.clock.now());
      if (d.degraded) headers[H_DEGRADED] = l.name;
      throw new RateLimitedError(l.name, d.retryAfterMs, headers);
    }
  }
}

/** What the caller settles once the call is done (tokens reconciled) or cancels (all given back). */
class LimitAdmission implements Admission {
  private built: AnswerHeaders | undefined;
  private done = false;

  constructor(private readonly owner: ConfiguredLimits, private readonly reserved: Reservation[], private readonly clock: Clock, private readonly now: number) {}

  /** Built when the answer is written, not at every decision: a batch's call is decided once, answered many times. */
  get headers(): AnswerHeaders {
    if (this.built) return this.built;
    const reserved = this.reserved;
    if (reserved.length === 1) {
      const d = reserved[0]!.decision;
      this.built = rateLimitHeaders(d, this.now);
      if (d.degraded) this.built[H_DEGRADED] = d.limitName;
      if (d.wouldLimit) this.built[H_WOULD_LIMIT] = d.limitName;
    } else {
      this.built = answerHeaders(reserved.map((r) => r.decision), this.now);
    }
    return this.built;
  }

  settle(usage: { tokens?: number | undefined }): void {
    if (this.done) return;
    this.done = true;
    if (usage.tokens === undefined) return;
    const now = this.clock.now();
    for (const r of this.reserved) {
      if (r.entry.config.dimension === 'tokens') r.entry.enforcer.reconcile(r.key, r.decision.windowId, r.units, wholeUnits(usage.tokens), now);
    }
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.owner.giveBack(this.reserved);
  }
}

/** Costs are whole non-negative units; a fractional or bad estimate must not turn into a 400. */
const wholeUnits = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0);

// The strict limit's client, on every node: admits from permit leases prefetched from the singleton
// holder (seed 002's algorithm, src/limit/prefetch.ts), so most decisions are local. Per key and
// window it keeps a pool; it asks for more when the pool falls under half the predicted need, waits
// for a grant only when the pool cannot cover a request, and never admits on credit: with no holder
// reachable it admits from what it already holds, then refuses. It reports its running totals to each
// new holder (the failover fence needs them), gives back what it will not use when the holder says a
// window is exhausted, at the window's end and on close. This file decides calls and rolls windows;
// the traffic with the holder (asks, answers, give-backs, reports) is ./strict-lease-traffic.ts.
// Protocol: ./strict-protocol.ts.
import type { Bus, Subscription } from '../../bus/bus.ts';
import type { Clock, TimerId } from '../../clock.ts';
import type { LimitConfig, TargetConfig } from '../../config/schema.ts';
import { InvalidArgumentError } from '../../errors.ts';
import type { Decision } from '../../limit/decision.ts';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../../limit/strict-ledger.ts';
import { windowIdAt } from '../../limit/windows.ts';
import type { NodeMetrics } from '../../metrics.ts';
import type { SingletonView } from '../singleton-view.ts';
import type { TargetDeps } from '../target-deps.ts';
import type { LimitEnforcer } from './enforcer.ts';
import { exhaustedSubject, leaseHolderId, leaseSubject, parseExhausted, parseSyncReply, type SyncItem } from './strict-protocol.ts';
import { settle } from './strict-lease.ts';
import { edgeWaitMs, landingFor, nextRollAt, openFrom, planSpend, type Landing, type SpendPlan } from './strict-landing.ts';
import { leaseOf, newKeyState, queueWaiter, strictDecision, type KeyState } from './strict-key.ts';
import { HolderLink } from './strict-link.ts';
import { LeaseTraffic } from './strict-lease-traffic.ts';
import { localRatio, newStrictClientStats, strictMetricsFor, type StrictClientStats } from './strict-metrics.ts';

export interface StrictClientDeps {
  nodeId: string;
  clusterName: string;
  clock: Clock;
  bus: Bus;
  singleton: SingletonView;
  metrics?: NodeMetrics | undefined;
  askTimeoutMs?: number;
  askAttempts?: number;
  /** cluster.maxClockSkewMs: a node whose clock is surely further than this from the holder's admits nothing. */
  maxClockSkewMs?: number | undefined;
}

/** The factory TargetLimits calls for a `mode: strict` limit. */
export function createStrictEnforcer(limit: LimitConfig, target: TargetConfig, deps: TargetDeps): LimitEnforcer {
  if (!deps.singleton) throw new InvalidArgumentError(`strict limit ${target.name}/${limit.name} needs the node's singleton (TargetDeps.singleton)`);
  return new StrictEnforcer(limit, target.name, { ...deps, singleton: deps.singleton, maxClockSkewMs: deps.cluster?.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS });
}

export class StrictEnforcer implements LimitEnforcer {
  readonly stats: StrictClientStats = newStrictClientStats();
  private readonly keys = new Map<string, KeyState>();
  private readonly prefix: string;
  private readonly link: HolderLink;
  private readonly traffic: LeaseTraffic;
  private readonly subs: Subscription[] = [];
  private readonly unwatch: () => void;
  private readonly unregister: () => void;
  private rollTimer: TimerId | undefined;
  private readonly landing: Landing;
  /** Calls charged to a window that has not started for the upstream yet: released at its start + skew. */
  private readonly holds = new Set<{ timer: TimerId; st: KeyState; plan: SpendPlan; cost: number; resolve: (d: Decision) => void }>();
  private rollAt = Number.POSITIVE_INFINITY;
  /** When the roll timer was armed (rollAt = nextRollAt of this instant). */
  private rollArmedAt = Number.POSITIVE_INFINITY;
  private closed = false;

  constructor(readonly config: LimitConfig, readonly targetName: string, private readonly deps: StrictClientDeps) {
    if (config.mode !== 'strict') throw new InvalidArgumentError(`limit ${config.name} is not strict`);
    this.prefix = `${targetName}/${config.name}/`;
    const leaseId = leaseHolderId(deps.nodeId, deps.clock.now());
    this.link = new HolderLink({ ...deps, nodeId: leaseId });
    this.landing = landingFor(config.windowMs, deps.maxClockSkewMs ?? 0, config.landingMs);
    this.traffic = new LeaseTraffic(config, deps, this.link, this.landing, this.keys, this.stats, this.prefix, {
      roll: (st, now) => this.roll(st, now),
      serveWaiters: (st) => this.serveWaiters(st),
    });
    this.subs.push(deps.bus.subscribe(exhaustedSubject(deps.clusterName), (m) => {
      const e = parseExhausted(m.data);
      if (e) this.traffic.onExhausted(e.key, e.windowId);
    }));
    this.subs.push(deps.bus.subscribe(leaseSubject(deps.clusterName, leaseId), (m) => {
      const reply = parseSyncReply(m.data);
      if (!reply?.ok) return;
      for (const st of this.traffic.apply(reply)) this.serveWaiters(st);
    }));
    this.unwatch = deps.singleton.onChange(() => { this.traffic.reportToNewHolder(); this.traffic.retryFailedAsks(); });
    this.unregister = deps.metrics ? strictMetricsFor(deps.metrics).register(targetName, config.name, this.stats) : () => {};
  }

  admit(key: string, cost: number, now: number, signal?: AbortSignal): Decision | Promise<Decision> {
    if (!Number.isSafeInteger(cost) || cost < 0) throw new InvalidArgumentError(`cost must be a non-negative integer, got ${cost}`);
    if (this.closed) return this.decide(this.state(key, now), false, now, true);
    const st = this.state(key, now);
    const lease = leaseOf(st, st.currentWindow);
    st.prefetch.recordDemand(now, cost);
    st.recent.recordDemand(now, cost);
    if (this.config.enforce) {
      const held = this.heldBack(st, now);
      if (held) return held;
    }
    const plan = st.waiters.length === 0 ? this.plan(st, cost, now) : undefined;
    if (plan) {
      // Looked up once for the decision and the ask after it: each look reads the clock and the election.
      const holderKnown = this.deps.singleton.holder() !== undefined;
      const d = this.spend(st, plan, cost, now, true, holderKnown);
      this.traffic.maybeAsk(st, now, holderKnown);
      return d;
    }
    if (!this.config.enforce) {
      // Shadow mode: spend what there is, let it through, and say it would have been limited.
      lease.pool -= Math.min(lease.pool, cost);
      this.traffic.maybeAsk(st, now);
      return this.decide(st, true, now, true, true);
    }
    if (!st.prefetch.askInFlight && !this.traffic.canAsk(st, now)) return this.decide(st, false, now, true);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const decision = queueWaiter(st, cost, signal);
    if (!st.prefetch.askInFlight) this.traffic.ask(st, now);
    return decision;
  }

  reconcile(key: string, windowId: number, estimated: number, actual: number, now: number): void {
    const st = this.keys.get(key);
    const lease = st?.windows.get(windowId);
    if (!st || !lease || estimated === actual) return;
    settle(lease, estimated, actual, windowId === windowIdAt(now, this.config.windowMs));
    if (actual < estimated) this.serveWaiters(st);
  }

  describe(): unknown {
    const holder = this.deps.singleton.holder();
    return {
      name: this.config.name, mode: 'strict', limit: this.config.limit, windowMs: this.config.windowMs,
      holder: holder?.id ?? null, keys: this.keys.size, localAdmissionRatio: localRatio(this.stats), stats: { ...this.stats },
    };
  }

  /** Gives every unspent permit back, then stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deps.clock.clearTimeout(this.rollTimer);
    this.traffic.close();
    this.unwatch();
    for (const s of this.subs.splice(0)) s.unsubscribe();
    const now = this.deps.clock.now();
    // A held call has not gone yet: it is refused and its permits given back with the rest.
    for (const h of [...this.holds]) {
      this.deps.clock.clearTimeout(h.timer);
      this.holds.delete(h);
      for (const w of h.plan.windows) leaseOf(h.st, w).pool += h.cost;
      h.resolve(this.decide(h.st, false, now, false));
    }
    const items: SyncItem[] = [];
    for (const st of this.keys.values()) {
      for (const w of st.waiters.splice(0)) w.settle(this.decide(st, false, now, false));
      for (const lease of st.windows.values()) {
        if (lease.pool > 0) this.traffic.giveBackUnits(lease, lease.pool);
        if (lease.received > 0) items.push(this.traffic.item(st, lease, 0));
      }
    }
    if (items.length) await this.traffic.sync(items, 1).catch(() => undefined);
    this.unregister();
  }

  /** Units held unspent for `key` in its current window (tests, describe). */
  held(key: string): number {
    const st = this.keys.get(key);
    return st ? st.windows.get(st.currentWindow)?.pool ?? 0 : 0;
  }

  // --- keys and windows ---

  private state(key: string, now: number): KeyState {
    let st = this.keys.get(key);
    if (!st) {
      st = newKeyState(key, this.prefix + key, this.config, now);
      this.keys.set(key, st);
    }
    st.lastUsedAt = now;
    this.roll(st, now);
    this.scheduleRoll(now);
    return st;
  }

  // A new window: what is left of the old one is given back (it can buy nothing now), and the close
  // wait of a short grant ends, since the budget is fresh.
  // The previous window stays open for maxClockSkewMs after the edge (a call decided then may still
  // land in it at the upstream, ./strict-landing.ts); then what is left of it goes back.
  private roll(st: KeyState, now: number): void {
    const w = windowIdAt(now, this.config.windowMs);
    const open = openFrom(this.landing, now);
    if (w <= st.currentWindow && open <= st.openWindow) return;
    const newWindow = w > st.currentWindow;
    st.currentWindow = Math.max(st.currentWindow, w);
    st.openWindow = Math.max(st.openWindow, open);
    if (newWindow) st.prefetch.onWindowStart();
    const items: SyncItem[] = [];
    for (const lease of st.windows.values()) {
      if (lease.windowId >= st.openWindow) continue;
      if (lease.pool > 0) {
        this.traffic.giveBackUnits(lease, lease.pool);
        items.push(this.traffic.item(st, lease, 0));
      }
      if (lease.windowId < st.openWindow - 1) st.windows.delete(lease.windowId);
    }
    if (items.length) void this.traffic.sync(items).catch(() => undefined);
    // Waiters queued for the old window now compete for the new one.
    if (newWindow && st.waiters.length) this.serveWaiters(st);
  }

  private scheduleRoll(now: number): void {
    // Called on every decision: while the armed roll is still ahead of a clock that has not stepped
    // back, the next roll is that one (nextRollAt only moves forward with time).
    if (now >= this.rollArmedAt && now < this.rollAt) return;
    const next = nextRollAt(this.landing, now);
    if (this.closed || next >= this.rollAt) return;
    this.rollAt = next;
    this.rollArmedAt = now;
    this.deps.clock.clearTimeout(this.rollTimer);
    this.rollTimer = this.deps.clock.setTimeout(() => this.onWindowEnd(), next - now);
  }

  private onWindowEnd(): void {
    this.rollAt = Number.POSITIVE_INFINITY;
    this.rollArmedAt = Number.POSITIVE_INFINITY;
    const now = this.deps.clock.now();
    for (const st of [...this.keys.values()]) {
      this.roll(st, now);
      const idle = st.waiters.length === 0 && [...st.windows.values()].every((l) => l.pool === 0)
        && now - st.lastUsedAt > 2 * this.config.windowMs;
      if (idle) this.keys.delete(st.key);
    }
    if (this.keys.size) this.scheduleRoll(now);
  }

  /**
   * A refusal that no pool can lift: the window's edge (its first or last edgeMs, where a call could
   * land at the upstream in the neighbouring window), or this node's clock surely too far from the
   * holder's or the voters' (it must not grant). Undefined otherwise.
   */
  private heldBack(st: KeyState, now: number): Decision | undefined {
    const skew = this.deps.maxClockSkewMs;
    // The holder's clock is the reference (a quorum of voters agreed with it within the skew), and
    // every answer re-checks ours against it.
    if (skew !== undefined && this.link.clockOff(skew)) {
      this.stats.clockRefusals++;
      return { ...this.decide(st, false, now, true), degraded: true };
    }
    const retryAfterMs = edgeWaitMs(this.config.edgeMs, this.config.windowMs, st.currentWindow, now);
    if (retryAfterMs === undefined) return undefined;
    this.stats.edgeRefusals++;
    return { ...this.decide(st, false, now, true), retryAfterMs };
  }

  // Admits queued requests from the pool in arrival order. If some still wait and another ask may go
  // out, it does; otherwise they are refused: nothing more will come soon enough.
  private serveWaiters(st: KeyState): void {
    if (st.waiters.length === 0) return;
    const now = this.deps.clock.now();
    this.roll(st, now);
    const held = this.heldBack(st, now);
    if (held) {
      for (const w of st.waiters.splice(0)) w.settle(held);
      return;
    }
    for (let plan = st.waiters.length ? this.plan(st, st.waiters[0]!.cost, now) : undefined; plan;
      plan = st.waiters.length ? this.plan(st, st.waiters[0]!.cost, now) : undefined) {
      const w = st.waiters.shift()!;
      const d = this.spend(st, plan, w.cost, now, false);
      if (d instanceof Promise) void d.then(w.settle);
      else w.settle(d);
    }
    if (st.waiters.length === 0 || st.prefetch.askInFlight) return;
    if (this.traffic.canAsk(st, now)) { this.traffic.ask(st, now); return; }
    for (const w of st.waiters.splice(0)) w.settle(this.decide(st, false, now, false));
  }

  /** How a call of `cost` at `now` would be paid for, from the pools this node holds (./strict-landing.ts). */
  private plan(st: KeyState, cost: number, now: number): SpendPlan | undefined {
    return planSpend(this.landing, now, cost, st.windows);
  }

  // Pays for a call from every window it may land in; a call paid by the later window only waits
  // until it can no longer land in the earlier one.
  private spend(st: KeyState, plan: SpendPlan, cost: number, now: number, local: boolean, holderKnown?: boolean): Decision | Promise<Decision> {
    for (const w of plan.windows) leaseOf(st, w).pool -= cost;
    const last = plan.windows[plan.windows.length - 1]!;
    const d = this.decide(st, true, now, local, false, holderKnown);
    const decision = last === d.windowId || plan.windows.length > 1 ? d : { ...d, windowId: last };
    if (plan.releaseAt <= now) return decision;
    return new Promise<Decision>((resolve) => {
      const h = { timer: undefined as TimerId, st, plan, cost, resolve };
      h.timer = this.deps.clock.setTimeout(() => { this.holds.delete(h); resolve(decision); }, plan.releaseAt - now);
      this.holds.add(h);
    });
  }

  private decide(st: KeyState, allowed: boolean, now: number, local: boolean, wouldLimit = false, holderKnown?: boolean): Decision {
    if (local) this.stats.decisionsLocal++;
    else this.stats.decisionsBus++;
    if (allowed) this.stats.allowed++;
    else this.stats.refused++;
    return strictDecision(this.config, st, now, allowed, wouldLimit, !(holderKnown ?? this.deps.singleton.holder() !== undefined));
  }
}

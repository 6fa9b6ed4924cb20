// The strict limit's client, on every node: admits from permit leases prefetched from the singleton
// holder (seed 002's algorithm, src/limit/prefetch.ts), so most decisions are local. Per key and
// window it keeps a pool; it asks for more when the pool falls under half the predicted need, waits
// for a grant only when the pool cannot cover a request, and never admits on credit: with no holder
// reachable it admits from what it already holds, then refuses. It reports its running totals to each
// new holder (the failover fence needs them), gives back what it will not use when the holder says a
// window is exhausted, at the window's end and on close. Protocol: ./strict-protocol.ts.
import type { Bus, Subscription } from '../../bus/bus.ts';
import type { Clock, TimerId } from '../../clock.ts';
import type { LimitConfig, TargetConfig } from '../../config/schema.ts';
import { InvalidArgumentError } from '../../errors.ts';
import type { Decision } from '../../limit/decision.ts';
import { aheadCap, DEFAULT_MAX_CLOCK_SKEW_MS } from '../../limit/strict-ledger.ts';
import { windowEndAt, windowIdAt } from '../../limit/windows.ts';
import type { NodeMetrics } from '../../metrics.ts';
import type { SingletonView } from '../singleton.ts';
import type { TargetDeps } from '../target-deps.ts';
import type { LimitEnforcer } from './enforcer.ts';
import { exhaustedSubject, leaseSubject, parseExhausted, parseSyncReply, type SyncItem } from './strict-protocol.ts';
import { giveBack, receive, settle, type WindowLease } from './strict-lease.ts';
import { landingFor, leaseWindows, nextRollAt, openFrom, planSpend, type Landing, type SpendPlan } from './strict-landing.ts';
import {
  askSize, leaseOf, MIN_RECENT_MS, newKeyState, recentMsFor, strictDecision, surplusOf, untilWindowEnd, type KeyState, type Waiter,
} from './strict-key.ts';
import { HolderLink, holderTag, type SyncAnswer } from './strict-link.ts';
import { localRatio, strictMetricsFor, type StrictClientStats } from './strict-metrics.ts';

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
  readonly stats: StrictClientStats = {
    decisionsLocal: 0, decisionsBus: 0, allowed: 0, refused: 0,
    asks: 0, grantsFull: 0, grantsShort: 0, asksFailed: 0, unitsAsked: 0, unitsGranted: 0, returns: 0, unitsReturned: 0, reports: 0,
    edgeRefusals: 0, clockRefusals: 0,
  };
  private readonly keys = new Map<string, KeyState>();
  private readonly prefix: string;
  private readonly link: HolderLink;
  private readonly subs: Subscription[] = [];
  private readonly unwatch: () => void;
  private readonly unregister: () => void;
  private rollTimer: TimerId | undefined;
  private surplusTimer: TimerId | undefined;
  private retryTimer: TimerId | undefined;
  private readonly recentMs: number;
  private readonly landing: Landing;
  /** Calls charged to a window that has not started for the upstream yet: released at its start + skew. */
  private readonly holds = new Set<{ timer: TimerId; st: KeyState; plan: SpendPlan; cost: number; resolve: (d: Decision) => void }>();
  private rollAt = Number.POSITIVE_INFINITY;
  private reportedTo = '';
  private closed = false;

  constructor(readonly config: LimitConfig, readonly targetName: string, private readonly deps: StrictClientDeps) {
    if (config.mode !== 'strict') throw new InvalidArgumentError(`limit ${config.name} is not strict`);
    this.prefix = `${targetName}/${config.name}/`;
    this.link = new HolderLink(deps);
    this.recentMs = recentMsFor(config);
    this.landing = landingFor(config.windowMs, deps.maxClockSkewMs ?? 0, config.landingMs);
    this.subs.push(deps.bus.subscribe(exhaustedSubject(deps.clusterName), (m) => {
      const e = parseExhausted(m.data);
      if (!e || !e.key.startsWith(this.prefix)) return;
      const st = this.keys.get(e.key.slice(this.prefix.length));
      const lease = st?.windows.get(e.windowId);
      if (!st || !lease) return;
      lease.scarce = true;
      this.giveBackSurplus(st, lease);
    }));
    this.subs.push(deps.bus.subscribe(leaseSubject(deps.clusterName, deps.nodeId), (m) => {
      const reply = parseSyncReply(m.data);
      if (!reply?.ok) return;
      for (const st of this.apply(reply)) this.serveWaiters(st);
    }));
    this.unwatch = deps.singleton.onChange(() => { this.reportToNewHolder(); this.retryFailedAsks(); });
    this.unregister = deps.metrics ? strictMetricsFor(deps.metrics).register(targetName, config.name, this.stats) : () => {};
    this.reportedTo = holderTag(deps.singleton);
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
      const d = this.spend(st, plan, cost, now, true);
      this.maybeAsk(st, now);
      return d;
    }
    if (!this.config.enforce) {
      // Shadow mode: spend what there is, let it through, and say it would have been limited.
      lease.pool -= Math.min(lease.pool, cost);
      this.maybeAsk(st, now);
      return this.decide(st, true, now, true, true);
    }
    if (!st.prefetch.askInFlight && !this.canAsk(st, now)) return this.decide(st, false, now, true);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const decision = new Promise<Decision>((resolve, reject) => {
      const onAbort = () => {
        const i = st.waiters.indexOf(waiter);
        if (i >= 0) st.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = { cost, settle: (d) => { signal?.removeEventListener('abort', onAbort); resolve(d); } };
      st.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    if (!st.prefetch.askInFlight) this.ask(st, now);
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
    this.deps.clock.clearTimeout(this.surplusTimer);
    this.deps.clock.clearTimeout(this.retryTimer);
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
        if (lease.pool > 0) this.giveBackUnits(lease, lease.pool);
        if (lease.received > 0) items.push(this.item(st, lease, 0));
      }
    }
    if (items.length) await this.sync(items, 1).catch(() => undefined);
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
        this.giveBackUnits(lease, lease.pool);
        items.push(this.item(st, lease, 0));
      }
      if (lease.windowId < st.openWindow - 1) st.windows.delete(lease.windowId);
    }
    if (items.length) void this.sync(items).catch(() => undefined);
    // Waiters queued for the old window now compete for the new one.
    if (newWindow && st.waiters.length) this.serveWaiters(st);
  }

  private scheduleRoll(now: number): void {
    const next = nextRollAt(this.landing, now);
    if (this.closed || next >= this.rollAt) return;
    this.rollAt = next;
    this.deps.clock.clearTimeout(this.rollTimer);
    this.rollTimer = this.deps.clock.setTimeout(() => this.onWindowEnd(), next - now);
  }

  private onWindowEnd(): void {
    this.rollAt = Number.POSITIVE_INFINITY;
    const now = this.deps.clock.now();
    for (const st of [...this.keys.values()]) {
      this.roll(st, now);
      const idle = st.waiters.length === 0 && [...st.windows.values()].every((l) => l.pool === 0)
        && now - st.lastUsedAt > 2 * this.config.windowMs;
      if (idle) this.keys.delete(st.key);
    }
    if (this.keys.size) this.scheduleRoll(now);
  }

  private giveBackUnits(lease: WindowLease, units: number): void {
    giveBack(lease, units);
    this.stats.returns++;
    this.stats.unitsReturned += units;
  }

  // The window is spent at the holder: keep what this node will likely use before it ends (at the
  // rate of its most recent demand), give back the rest so a node that is still asking can lease it
  // (the holder passes it on to its waitlist at once). Checked again every little while as long as
  // the window stays scarce: a burst that ended leaves its pool to others.
  private giveBackSurplus(st: KeyState, lease: WindowLease): void {
    const now = this.deps.clock.now();
    this.roll(st, now);
    if (lease.pool === 0 || lease.windowId !== st.currentWindow) return;
    const surplus = surplusOf(st, lease, now, this.config);
    if (surplus > 0) {
      this.giveBackUnits(lease, surplus);
      // The holder has at least this much again: should demand come back, ask without sitting out a close wait.
      st.prefetch.onWindowStart();
      void this.sync([this.item(st, lease, 0)]).catch(() => undefined);
    }
    if (lease.pool > 0) this.scheduleSurplusCheck();
  }

  private scheduleSurplusCheck(): void {
    if (this.surplusTimer !== undefined || this.closed) return;
    this.surplusTimer = this.deps.clock.setTimeout(() => {
      this.surplusTimer = undefined;
      for (const st of this.keys.values()) {
        const lease = st.windows.get(st.currentWindow);
        if (lease?.scarce && lease.pool > 0) this.giveBackSurplus(st, lease);
      }
    }, Math.max(MIN_RECENT_MS / 4, this.recentMs / 4));
  }

  // --- asking ---

  private canAsk(st: KeyState, now: number): boolean {
    return !this.closed && !st.prefetch.askInFlight && now >= st.prefetch.closedUntilAt && this.deps.singleton.holder() !== undefined;
  }

  private maybeAsk(st: KeyState, now: number): void {
    if (this.closed || !this.deps.singleton.holder()) return;
    // The pool already covers the predicted demand until the window ends: more would only come back.
    const wants = this.askWindows(st, now).some((lease) =>
      lease.pool < untilWindowEnd(st, lease, now, this.config.windowMs) && st.prefetch.shouldAsk(now, lease.pool) > 0);
    if (wants) this.ask(st, now);
  }

  // The current window's lease, and the next one's from a little before its landing zone (so it is
  // there when calls start being charged to both). Near the edge, a window that is spent is not asked again.
  private askWindows(st: KeyState, now: number): WindowLease[] {
    const ids = leaseWindows(this.landing, now, this.leadMs());
    const leases = ids.map((w) => leaseOf(st, w));
    return leases.length > 1 && leases[0]!.available === 0 ? leases.slice(1) : leases;
  }

  /** How long before a landing zone the next window's lease is asked for: a few round trips. */
  private leadMs(): number {
    // The holder leases a window at most aheadCap before it starts (src/limit/strict-ledger.ts).
    return Math.max(0, Math.min(this.link.tryTimeoutMs(), aheadCap(this.config.windowMs) - this.landing.landingMs));
  }

  /** Asks for the desired lease, or what the queued requests need if that is more (per window asked). */
  private ask(st: KeyState, now: number): void {
    const leases = this.askWindows(st, now);
    const wants = leases.map((lease) => askSize(st, lease, now, this.config.windowMs));
    const want = wants.reduce((a, b) => a + b, 0);
    const askedIn = st.currentWindow;
    st.prefetch.onAskSent(now);
    this.stats.asks++;
    this.stats.unitsAsked += want;
    const before = leases.map((l) => l.received);
    void this.sync(leases.map((l, i) => this.item(st, l, wants[i]!))).then(
      () => {
        // Units that arrived meanwhile through a report or a return's reply count too: totals, not deltas.
        const delivered = Math.min(want, leases.reduce((sum, l, i) => sum + l.received - before[i]!, 0));
        if (delivered >= want) this.stats.grantsFull++;
        else this.stats.grantsShort++;
        st.prefetch.onGrant(this.deps.clock.now(), want, delivered);
        st.failedAsk = false;
      },
      () => {
        this.stats.asksFailed++;
        st.failedAsk = true;
        st.prefetch.onAskFailed(this.deps.clock.now());
        // Every try was lost, yet a holder is known: it may well have granted (the next ask collects
        // that, asks are idempotent). Try again after a round trip or so, not after the close wait.
        if (this.deps.singleton.holder()) this.scheduleRetry();
      },
    ).finally(() => {
      // An answer about a window that has since ended says nothing about the new one's budget.
      this.roll(st, this.deps.clock.now());
      if (st.currentWindow !== askedIn) st.prefetch.onWindowStart();
      this.serveWaiters(st);
    });
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
    const edge = this.config.edgeMs;
    if (edge <= 0) return undefined;
    const { windowMs } = this.config;
    const phase = now - st.currentWindow * windowMs;
    if (phase >= edge && phase < windowMs - edge) return undefined;
    this.stats.edgeRefusals++;
    const retryAfterMs = phase < edge ? edge - phase : windowMs - phase + edge;
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
    if (this.canAsk(st, now)) { this.ask(st, now); return; }
    for (const w of st.waiters.splice(0)) w.settle(this.decide(st, false, now, false));
  }

  private item(st: KeyState, lease: WindowLease, want: number): SyncItem {
    return {
      key: st.wireKey, limit: this.config.limit, windowMs: this.config.windowMs, windowId: lease.windowId,
      received: lease.received, returned: lease.returned, want, ...(want > 0 ? { waitMs: this.config.prefetch.closeWaitMs } : {}),
      ...(want > 0 && lease.windowId > st.currentWindow ? { aheadMs: this.landing.landingMs + this.leadMs() } : {}),
    };
  }

  /** How a call of `cost` at `now` would be paid for, from the pools this node holds (./strict-landing.ts). */
  private plan(st: KeyState, cost: number, now: number): SpendPlan | undefined {
    return planSpend(this.landing, now, cost, (w) => st.windows.get(w)?.pool ?? 0);
  }

  // Pays for a call from every window it may land in; a call paid by the later window only waits
  // until it can no longer land in the earlier one.
  private spend(st: KeyState, plan: SpendPlan, cost: number, now: number, local: boolean): Decision | Promise<Decision> {
    for (const w of plan.windows) leaseOf(st, w).pool -= cost;
    const last = plan.windows[plan.windows.length - 1]!;
    const d = this.decide(st, true, now, local);
    const decision = last === d.windowId || plan.windows.length > 1 ? d : { ...d, windowId: last };
    if (plan.releaseAt <= now) return decision;
    return new Promise<Decision>((resolve) => {
      const h = { timer: undefined as TimerId, st, plan, cost, resolve };
      h.timer = this.deps.clock.setTimeout(() => { this.holds.delete(h); resolve(decision); }, plan.releaseAt - now);
      this.holds.add(h);
    });
  }

  /** Sends items to the holder this node knows (./strict-link.ts) and applies its answers. */
  private sync(items: SyncItem[], attempts?: number): Promise<void> {
    return this.link.sync(items, (a) => this.apply(a), attempts);
  }

  // Running totals: a reply adds only what this node has not counted yet, so a repeated, late or
  // reordered reply adds nothing. Late units for a window already over are given back at once.
  private apply(reply: SyncAnswer): KeyState[] {
    const now = this.deps.clock.now();
    const late: Array<[KeyState, WindowLease]> = [];
    const touched: KeyState[] = [];
    for (const g of reply.items) {
      if (!g.key.startsWith(this.prefix)) continue;
      const st = this.keys.get(g.key.slice(this.prefix.length));
      const lease = st?.windows.get(g.windowId);
      if (!st || !lease) continue;
      touched.push(st);
      const fresh = receive(lease, g.received, g.available);
      if (fresh === 0) continue;
      this.stats.unitsGranted += fresh;
      if (g.windowId < openFrom(this.landing, now) && lease.pool > 0) {
        this.giveBackUnits(lease, lease.pool);
        late.push([st, lease]);
      }
    }
    if (late.length) void this.sync(late.map(([st, l]) => this.item(st, l, 0))).catch(() => undefined);
    if (touched.some((st) => { const l = st.windows.get(st.currentWindow); return l?.scarce && l.pool > 0; })) this.scheduleSurplusCheck();
    return touched;
  }

  // A failed ask says nothing about the budget, only that no holder answered (failover, a lapse, lost
  // messages): once one is known again, ask at once rather than sit out the close wait refusing.
  private retryFailedAsks(): void {
    if (this.closed || !this.deps.singleton.holder()) return;
    const now = this.deps.clock.now();
    for (const st of this.keys.values()) {
      if (!st.failedAsk || st.prefetch.askInFlight) continue;
      st.failedAsk = false;
      st.prefetch.onWindowStart();
      if (st.waiters.length) this.ask(st, now);
      else this.maybeAsk(st, now);
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.retryFailedAsks();
    }, 2 * this.link.tryTimeoutMs());
  }

  // A new holder (or term) must hear every node's totals: its fence counts returns only from nodes
  // that reported, and re-leases nothing else of a window its predecessor may have leased from.
  private reportToNewHolder(): void {
    const tag = holderTag(this.deps.singleton);
    if (this.closed || tag === '' || tag === this.reportedTo) return;
    this.reportedTo = tag;
    const items: SyncItem[] = [];
    for (const st of this.keys.values()) {
      for (const lease of st.windows.values()) if (lease.received > 0) items.push(this.item(st, lease, 0));
    }
    if (items.length === 0) return;
    this.stats.reports++;
    void this.sync(items).catch(() => { if (holderTag(this.deps.singleton) === tag) this.reportedTo = ''; });
  }

  private decide(st: KeyState, allowed: boolean, now: number, local: boolean, wouldLimit = false): Decision {
    if (local) this.stats.decisionsLocal++;
    else this.stats.decisionsBus++;
    if (allowed) this.stats.allowed++;
    else this.stats.refused++;
    return strictDecision(this.config, st, now, allowed, wouldLimit, this.deps.singleton.holder() === undefined);
  }
}

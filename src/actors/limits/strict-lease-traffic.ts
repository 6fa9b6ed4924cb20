// A strict client's traffic with the singleton holder, per limit: asking for permit leases ahead of
// need (./strict-key.ts sizes them), applying the running totals the holder answers with, giving back
// what this node will not use, retrying asks no holder answered, and reporting totals to each new
// holder. The enforcer (./strict-enforcer.ts) decides calls from the pools this keeps filled; it
// lends its window roll and its waiter queue through `LeaseTrafficHooks`.
import type { Clock, TimerId } from '../../clock.ts';
import type { LimitConfig } from '../../config/schema.ts';
import { aheadCap } from '../../limit/strict-ledger.ts';
import { windowIdAt } from '../../limit/windows.ts';
import type { SingletonView } from '../singleton-view.ts';
import { askSize, leaseOf, MIN_RECENT_MS, recentMsFor, surplusOf, untilWindowEnd, type KeyState } from './strict-key.ts';
import { needsNextLease, openFrom, type Landing } from './strict-landing.ts';
import { giveBack, receive, type WindowLease } from './strict-lease.ts';
import { holderTag, type HolderLink, type SyncAnswer } from './strict-link.ts';
import type { StrictClientStats } from './strict-metrics.ts';
import type { SyncItem } from './strict-protocol.ts';

/** What the traffic needs from the enforcer that owns the keys. */
export interface LeaseTrafficHooks {
  /** Moves a key to the window `now` is in, giving back what the windows left behind hold. */
  roll(st: KeyState, now: number): void;
  /** Admits or refuses the key's queued calls from what its pools hold now. */
  serveWaiters(st: KeyState): void;
}

export class LeaseTraffic {
  private surplusTimer: TimerId | undefined;
  private retryTimer: TimerId | undefined;
  private reportedTo: string;
  private readonly recentMs: number;
  private closed = false;

  constructor(
    private readonly config: LimitConfig,
    private readonly deps: { readonly clock: Clock; readonly singleton: SingletonView },
    private readonly link: HolderLink,
    private readonly landing: Landing,
    private readonly keys: ReadonlyMap<string, KeyState>,
    private readonly stats: StrictClientStats,
    private readonly prefix: string,
    private readonly hooks: LeaseTrafficHooks,
  ) {
    this.reportedTo = holderTag(deps.singleton);
    this.recentMs = recentMsFor(config);
  }

  /** The holder says a window of `wireKey` is spent: this node keeps only what it will likely use. */
  onExhausted(wireKey: string, windowId: number): void {
    if (!wireKey.startsWith(this.prefix)) return;
    const st = this.keys.get(wireKey.slice(this.prefix.length));
    const lease = st?.windows.get(windowId);
    if (!st || !lease) return;
    lease.scarce = true;
    this.giveBackSurplus(st, lease);
  }

  /** Stops timers and new asks; what is in flight still lands. */
  close(): void {
    this.closed = true;
    this.deps.clock.clearTimeout(this.surplusTimer);
    this.deps.clock.clearTimeout(this.retryTimer);
  }

  giveBackUnits(lease: WindowLease, units: number): void {
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
    this.hooks.roll(st, now);
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

  canAsk(st: KeyState, now: number): boolean {
    return !this.closed && !st.prefetch.askInFlight && now >= st.prefetch.closedUntilAt && this.deps.singleton.holder() !== undefined;
  }

  /** After a local decision: asks when a lease it may need runs low. `holderKnown`: the caller just looked. */
  maybeAsk(st: KeyState, now: number, holderKnown?: boolean): void {
    if (this.closed || !(holderKnown ?? this.deps.singleton.holder() !== undefined)) return;
    // askWindows' leases, without building its list (or a closure: tsx names each one it creates) on
    // a path every local decision takes.
    const current = leaseOf(st, windowIdAt(now, this.config.windowMs));
    if (!needsNextLease(this.landing, now, this.leadMs())) {
      if (this.runsLow(st, current, now)) this.ask(st, now);
      return;
    }
    const next = leaseOf(st, current.windowId + 1);
    const low = current.available === 0 ? this.runsLow(st, next, now) : this.runsLow(st, current, now) || this.runsLow(st, next, now);
    if (low) this.ask(st, now);
  }

  /** The pool is short of the predicted demand until its window ends, and prefetch would ask (else more would only come back). */
  private runsLow(st: KeyState, lease: WindowLease, now: number): boolean {
    return lease.pool < untilWindowEnd(st, lease, now, this.config.windowMs) && st.prefetch.shouldAsk(now, lease.pool) > 0;
  }

  // The current window's lease, and the next one's from a little before its landing zone (so it is
  // there when calls start being charged to both). Near the edge, a window that is spent is not asked again.
  private askWindows(st: KeyState, now: number): WindowLease[] {
    const current = leaseOf(st, windowIdAt(now, this.config.windowMs));
    if (!needsNextLease(this.landing, now, this.leadMs())) return [current];
    const next = leaseOf(st, current.windowId + 1);
    return current.available === 0 ? [next] : [current, next];
  }

  /** How long before a landing zone the next window's lease is asked for: a few round trips. */
  private leadMs(): number {
    // The holder leases a window at most aheadCap before it starts (src/limit/strict-ledger.ts).
    return Math.max(0, Math.min(this.link.tryTimeoutMs(), aheadCap(this.config.windowMs) - this.landing.landingMs));
  }

  /** Asks for the desired lease, or what the queued requests need if that is more (per window asked). */
  ask(st: KeyState, now: number): void {
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
      this.hooks.roll(st, this.deps.clock.now());
      if (st.currentWindow !== askedIn) st.prefetch.onWindowStart();
      this.hooks.serveWaiters(st);
    });
  }

  item(st: KeyState, lease: WindowLease, want: number): SyncItem {
    return {
      key: st.wireKey, limit: this.config.limit, windowMs: this.config.windowMs, windowId: lease.windowId,
      received: lease.received, returned: lease.returned, want, ...(want > 0 ? { waitMs: this.config.prefetch.closeWaitMs } : {}),
      ...(want > 0 && lease.windowId > st.currentWindow ? { aheadMs: this.landing.landingMs + this.leadMs() } : {}),
    };
  }

  /** Sends items to the holder this node knows (./strict-link.ts) and applies its answers. */
  sync(items: SyncItem[], attempts?: number): Promise<void> {
    return this.link.sync(items, (a) => this.apply(a), attempts);
  }

  // Running totals: a reply adds only what this node has not counted yet, so a repeated, late or
  // reordered reply adds nothing. Late units for a window already over are given back at once.
  apply(reply: SyncAnswer): KeyState[] {
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
  retryFailedAsks(): void {
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
  reportToNewHolder(): void {
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
}

// One strict limit key on one node: its prefetch state, its per-window leases and its queued
// requests, and the sums the strict client makes from them (how much to ask for, what a scarce
// window's pool is still needed for, what a decision says). No I/O and no timers: the enforcer
// (./strict-enforcer.ts) owns those and calls these with `now`.
import type { LimitConfig } from '../../config/schema.ts';
import type { Decision } from '../../limit/decision.ts';
import { LeasePrefetch } from '../../limit/prefetch.ts';
import { windowEndAt, windowIdAt } from '../../limit/windows.ts';
import { newLease, type WindowLease } from './strict-lease.ts';

/** Shortest horizon of "recent demand" when deciding what a scarce window's pool is still needed for, ms. */
export const MIN_RECENT_MS = 100;

export interface Waiter { cost: number; settle: (d: Decision) => void }

/**
 * Queues a call of `cost` on the key until a grant (or a refusal) settles it; an abort takes it out
 * of the queue and rejects with the signal's reason, so every caller gets exactly one answer.
 */
export function queueWaiter(st: KeyState, cost: number, signal: AbortSignal | undefined): Promise<Decision> {
  return new Promise<Decision>((resolve, reject) => {
    const onAbort = () => {
      const i = st.waiters.indexOf(waiter);
      if (i >= 0) st.waiters.splice(i, 1);
      reject(signal!.reason);
    };
    const waiter: Waiter = { cost, settle: (d) => { signal?.removeEventListener('abort', onAbort); resolve(d); } };
    st.waiters.push(waiter);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface KeyState {
  readonly key: string;
  readonly wireKey: string;
  readonly prefetch: LeasePrefetch;
  /** Demand over the last moments (recentMs), to tell what a scarce window's pool will still be used for. */
  readonly recent: LeasePrefetch;
  readonly windows: Map<number, WindowLease>;
  readonly waiters: Waiter[];
  currentWindow: number;
  /** The oldest window a call decided now may still land in (./strict-landing.ts): older leases are given back. */
  openWindow: number;
  lastUsedAt: number;
  /** The last ask failed (no holder answered): ask again as soon as a holder is known, not after the close wait. */
  failedAsk: boolean;
}

/** The horizon of "recent demand" for a limit: half its close wait, at least MIN_RECENT_MS. */
export const recentMsFor = (config: LimitConfig): number => Math.max(MIN_RECENT_MS, config.prefetch.closeWaitMs / 2);

export function newKeyState(key: string, wireKey: string, config: LimitConfig, now: number): KeyState {
  return {
    key, wireKey, prefetch: new LeasePrefetch(config.prefetch),
    recent: new LeasePrefetch({ predictWindowMs: recentMsFor(config), minPrefetch: 1, closeWaitMs: 0 }), windows: new Map(),
    waiters: [], currentWindow: windowIdAt(now, config.windowMs), openWindow: windowIdAt(now, config.windowMs) - 1, lastUsedAt: now, failedAsk: false,
  };
}

export function leaseOf(st: KeyState, windowId: number): WindowLease {
  let lease = st.windows.get(windowId);
  if (!lease) st.windows.set(windowId, (lease = newLease(windowId)));
  return lease;
}

export const queuedUnits = (st: KeyState): number => st.waiters.reduce((sum, w) => sum + w.cost, 0);

/** Units this key is predicted to need from now to the end of the lease's window, at its recent rate. */
export function untilWindowEnd(st: KeyState, lease: WindowLease, now: number, windowMs: number): number {
  const rate = st.prefetch.demand(now) / st.prefetch.config.predictWindowMs;
  return Math.ceil(rate * (windowEndAt(lease.windowId, windowMs) - now));
}

/** What to ask for: the desired lease, or what the queued requests need if that is more. */
export function askSize(st: KeyState, lease: WindowLease, now: number, windowMs: number): number {
  // A lease is good for one window: never ask for more than the predicted demand until it ends,
  // less what the pool holds.
  const beyondPool = untilWindowEnd(st, lease, now, windowMs) - lease.pool;
  return Math.max(Math.min(st.prefetch.desired(now), Math.max(st.prefetch.config.minPrefetch, beyondPool)), queuedUnits(st) + lease.debt - lease.pool, 1);
}

/**
 * What a scarce window's pool holds beyond what this node will likely use before the window ends
 * (at the rate of its most recent demand), or 0. An idle node gives everything back; a busy one only
 * a clear surplus, or two nodes that are both short would pass a few permits back and forth.
 */
export function surplusOf(st: KeyState, lease: WindowLease, now: number, config: LimitConfig): number {
  const recentMs = recentMsFor(config);
  const rate = st.recent.demand(now) / recentMs;
  const need = queuedUnits(st) + Math.ceil(rate * Math.min(recentMs, windowEndAt(lease.windowId, config.windowMs) - now));
  const surplus = lease.pool - need;
  return surplus >= (need === 0 ? 1 : Math.max(need, st.prefetch.config.minPrefetch)) ? surplus : 0;
}

/** The decision for one request of `st` in its current window. */
export function strictDecision(config: LimitConfig, st: KeyState, now: number, allowed: boolean, wouldLimit: boolean, degraded: boolean): Decision {
  const { limit, windowMs } = config;
  const lease = leaseOf(st, st.currentWindow);
  const resetAt = windowEndAt(st.currentWindow, windowMs);
  const remaining = Math.max(0, Math.min(limit, lease.pool + (lease.available ?? (lease.received === 0 ? limit : 0))));
  let retryAfterMs = 0;
  if (!allowed) {
    const reopen = st.prefetch.closedUntilAt > now ? st.prefetch.closedUntilAt - now : config.prefetch.closeWaitMs;
    retryAfterMs = Math.max(1, lease.available === 0 ? resetAt - now : Math.min(reopen, resetAt - now));
  }
  return {
    allowed, limitName: config.name, limit, remaining, resetAt, retryAfterMs, windowId: st.currentWindow,
    degraded, wouldLimit: wouldLimit || !allowed,
  };
}

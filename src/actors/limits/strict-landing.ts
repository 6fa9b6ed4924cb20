// Where a strict call lands (issue #12, window edges). A permit is spent on this node's clock, but the
// upstream counts the call by its own clock when it arrives: up to `skewMs` earlier (its clock behind
// ours) or up to `skewMs` + travel later. So a call decided at `t` may land in any window that meets
// [t − skewMs, t + landingMs], landingMs = skew + travel. Near an edge that is two windows, and the
// call is charged to both: then every window, counted at the upstream, holds at most the permits
// leased from it. When the earlier window has nothing left, the call is charged to the later one only
// and held until it can no longer land in the earlier one (its start + skewMs, on our clock): a short
// wait, never a refusal. Pure: the enforcer (./strict-enforcer.ts) owns pools and timers.
import { windowIdAt, windowStartAt } from '../../limit/windows.ts';

/**
 * Default travel budget of a call to the upstream: 2% of the window, at most 100 ms; landingMs
 * defaults to maxClockSkewMs + this. Each call decided in a landing zone costs two permits, so the
 * zone is kept a small share of the window; set limits[].landingMs when calls travel longer.
 */
export const TRAVEL_BUDGET_MS = 100;
export const travelBudgetMs = (windowMs: number): number => Math.min(TRAVEL_BUDGET_MS, Math.floor(windowMs / 50));

export interface Landing {
  readonly windowMs: number;
  /** cluster.maxClockSkewMs: the upstream's clock is within this of ours. */
  readonly skewMs: number;
  /** limits[].landingMs: a call lands at most this long after it is decided (skew + travel). */
  readonly landingMs: number;
}

export function landingFor(windowMs: number, skewMs: number, landingMs: number | undefined): Landing {
  // A call must never be able to land in three windows: the two spans together stay under a window.
  const cap = Math.max(0, Math.floor(windowMs / 2) - 1);
  const skew = Math.min(skewMs, cap);
  return { windowMs, skewMs: skew, landingMs: Math.min(landingMs ?? skewMs + travelBudgetMs(windowMs), cap - skew) };
}

/**
 * The share of each window whose calls are charged to two windows (its last landingMs and the first
 * skewMs of the next): a steady load near the limit gets about limit ÷ (1 + share) of it.
 */
export const doubleChargedShare = (l: Landing): number => (l.landingMs + l.skewMs) / l.windowMs;

/** Above this share a node says at start what the landing zones cost (short windows, default skew). */
export const COSTLY_LANDING_SHARE = 0.1;

/** How a call of `cost` is paid for: from which windows' pools, and when it may go (≥ now). */
export interface SpendPlan { readonly windows: readonly number[]; readonly releaseAt: number }

/**
 * The plan for a call at `now`, given each window's unspent pool (by window id); undefined when the
 * latest window it may land in cannot pay (the enforcer then asks for a lease of that window, or refuses).
 */
export function planSpend(l: Landing, now: number, cost: number, pools: ReadonlyMap<number, { readonly pool: number }>): SpendPlan | undefined {
  const from = windowIdAt(now - l.skewMs, l.windowMs);
  const last = windowIdAt(now + l.landingMs, l.windowMs);
  if ((pools.get(last)?.pool ?? 0) < cost) return undefined;
  if (from === last) return payNow(last);
  if ((pools.get(from)?.pool ?? 0) >= cost) return { windows: [from, last], releaseAt: now };
  // The earlier window is spent: pay from the later one only, and go once the call surely lands in it.
  return { windows: [last], releaseAt: Math.max(now, windowStartAt(last, l.windowMs) + l.skewMs) };
}

// Most calls land in one window and go at once: their plan is the same object for the whole window
// (frozen, so sharing it is safe), not two allocations per decision on a path that makes millions.
let lastPayNow: SpendPlan = Object.freeze({ windows: Object.freeze([Number.NaN]), releaseAt: Number.NEGATIVE_INFINITY });
function payNow(windowId: number): SpendPlan {
  if (lastPayNow.windows[0] !== windowId) {
    lastPayNow = Object.freeze({ windows: Object.freeze([windowId]), releaseAt: Number.NEGATIVE_INFINITY });
  }
  return lastPayNow;
}

/**
 * Whether the next window's lease is needed already, beside the current one's: a call decided from
 * `leadMs` before the landing zone on may be paid from the next window.
 */
export const needsNextLease = (l: Landing, now: number, leadMs: number): boolean =>
  windowIdAt(now + l.landingMs + leadMs, l.windowMs) > windowIdAt(now, l.windowMs);

/** When the earliest window a call can still land in changes next (windows before it are given back then). */
export function nextRollAt(l: Landing, now: number): number {
  const current = windowIdAt(now, l.windowMs);
  const open = windowIdAt(now - l.skewMs, l.windowMs);
  return open < current ? windowStartAt(current, l.windowMs) + l.skewMs : windowStartAt(current + 1, l.windowMs);
}

/** The oldest window a call decided now may still land in: older leases can be given back. */
export const openFrom = (l: Landing, now: number): number => windowIdAt(now - l.skewMs, l.windowMs);

/**
 * Within a window's first or last `edgeMs` (limits[].edgeMs) a call could land at the upstream in the
 * neighbouring window whatever pool paid for it, so it is refused: how long until the edge is past,
 * or undefined when `now` is clear of both edges of `windowId`.
 */
export function edgeWaitMs(edgeMs: number, windowMs: number, windowId: number, now: number): number | undefined {
  if (edgeMs <= 0) return undefined;
  const phase = now - windowId * windowMs;
  if (phase >= edgeMs && phase < windowMs - edgeMs) return undefined;
  return phase < edgeMs ? edgeMs - phase : windowMs - phase + edgeMs;
}

// Decides, on one node, whether a request may spend `cost` units of one approximate limit now: it
// compares the merged cluster total of the current window (peers' gossiped counts plus this node's
// own, gossiped or not) with the limit, and reserves the cost before the call. When the node cannot
// see the whole cluster it applies the limit's `degraded` policy. Pure: every method takes `now`.
// The over-admission bound is argued at `overAdmissionBound`; when a node counts as degraded, in PeerHealth.
import type { NodeId } from '../crdt/node-id.ts';
import { type ClusterHealth, PeerHealth } from '../crdt/peer-health.ts';
import { isPlainObject } from '../crdt/wire.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { Decision } from './decision.ts';
export type { ClusterHealth } from '../crdt/peer-health.ts';
import { type EncodedWindows, isRetained, windowEndAt, windowIdAt, WindowedCounters } from './windows.ts';

export const DegradedMode = { SafeShare: 'safe-share', FailClosed: 'fail-closed', FailOpen: 'fail-open' } as const;
export type DegradedMode = (typeof DegradedMode)[keyof typeof DegradedMode];

export const DEFAULT_DEGRADED: DegradedMode = DegradedMode.SafeShare;
export const DEFAULT_ENFORCE = true;
/** A peer silent for this many sync intervals is stale: several gossip rounds in a row were lost. */
export const DEFAULT_STALE_SYNC_MULTIPLE = 5;
export const defaultStaleMs = (syncMs: number): number => DEFAULT_STALE_SYNC_MULTIPLE * syncMs;

/**
 * One configured limit on one node, as the config module maps it. `dimension`, `per`, `onLimit` and
 * `maxQueueMs` stay with the caller: the core counts units per key, whatever the units and keys are.
 */
export interface ApproximateLimitInput {
  /** Required. This node: its own counter entries are written under this id. */
  nodeId: NodeId;
  /** Required. The limit's `name`; gossip for another limit is rejected. */
  name: string;
  /** Required. Units (requests or tokens) per window, a non-negative integer. */
  limit: number;
  /** Required. Window length in ms, a positive integer; every node of the cluster must use the same. */
  windowMs: number;
  /** Optional, default `safe-share`. What to do while the node cannot see the whole cluster. */
  degraded?: DegradedMode;
  /** Optional, default true. False is shadow mode: allow everything, report `wouldLimit`. */
  enforce?: boolean;
  /** Required (default it with `defaultStaleMs(cluster.syncMs)`). Ms of silence after which a peer is stale. */
  staleMs: number;
}

/** One gossip message for one limit: a delta or a full state. JSON-safe. */
export type ApproximatePayload = { limit: string; windowMs: number; windows: EncodedWindows };

export interface RemoteMergeReport {
  /** False when the whole payload was refused: not an object, another limit, another windowMs, or our own echo. */
  accepted: boolean;
  counters: number;
  malformed: number;
  outOfRange: number;
}

export interface ApproximateLimiterStats {
  /** Key counters merged from peers. */
  mergedCounters: number;
  /** Unreadable parts of payloads skipped, plus whole payloads refused. */
  malformed: number;
  /** Remote windows skipped as too old or too far ahead. */
  outOfRange: number;
  /** Reconciles that came after their window was dropped, so could not be applied. */
  lateReconciles: number;
}

export class ApproximateLimiter {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly degradedMode: DegradedMode;
  readonly enforce: boolean;
  readonly staleMs: number;
  private readonly self: NodeId;
  private readonly counters: WindowedCounters;
  private readonly peers: PeerHealth;
  private prunedForWindow = Number.NaN;
  private readonly counts: ApproximateLimiterStats = { mergedCounters: 0, malformed: 0, outOfRange: 0, lateReconciles: 0 };

  constructor(input: ApproximateLimitInput) {
    if (typeof input.name !== 'string' || input.name === '') throw new InvalidArgumentError(`'name' must be a non-empty string`);
    checkCount('limit', input.limit);
    if (!Number.isSafeInteger(input.windowMs) || input.windowMs <= 0) {
      throw new InvalidArgumentError(`'windowMs' must be a positive integer, got ${input.windowMs}`);
    }
    if (!(input.staleMs > 0)) throw new InvalidArgumentError(`'staleMs' must be positive, got ${input.staleMs}`);
    const degraded = input.degraded ?? DEFAULT_DEGRADED;
    if (!Object.values(DegradedMode).includes(degraded)) {
      throw new InvalidArgumentError(`'degraded' must be one of ${Object.values(DegradedMode).join(', ')}, got ${degraded}`);
    }
    this.self = input.nodeId;
    this.name = input.name;
    this.limit = input.limit;
    this.windowMs = input.windowMs;
    this.degradedMode = degraded;
    this.enforce = input.enforce ?? DEFAULT_ENFORCE;
    this.staleMs = input.staleMs;
    this.counters = new WindowedCounters(input.nodeId, input.windowMs);
    this.peers = new PeerHealth(input.nodeId, input.staleMs);
  }

  /**
   * Decides and, when allowed, counts `cost` for `key` in the current window (reserve before the
   * call; `reconcile` later). A request that would cross the limit is refused whole. A cost of 0 is
   * refused once nothing remains: the limit is spent.
   */
  admit(key: string, cost: number, now: number): Decision {
    return this.decide(key, cost, now, true);
  }

  /** The decision `admit` would make, without counting anything (for queue polling or headers). */
  peek(key: string, cost: number, now: number): Decision {
    return this.decide(key, cost, now, false);
  }

  /**
   * After the reply reports real usage: charges `actual - estimated` when positive (usage happened,
   * even past the limit), refunds it when negative. A refund never exceeds this node's own net count
   * in that window, so it cannot take back what another node counted. Returns the units applied
   * (negative for a refund); 0 when the window was already dropped.
   */
  reconcile(key: string, windowId: number, estimated: number, actual: number, now: number): number {
    checkCount('estimated', estimated);
    checkCount('actual', actual);
    this.pruneOnWindowChange(now);
    if (!isRetained(windowId, now, this.windowMs)) {
      this.counts.lateReconciles++;
      return 0;
    }
    const diff = actual - estimated;
    if (diff > 0) {
      this.counters.add(windowId, key, diff);
      return diff;
    }
    const refund = Math.min(-diff, Math.max(0, this.counters.valueAt(windowId, key, this.self)));
    this.counters.subtract(windowId, key, refund);
    return -refund;
  }

  /**
   * This node's changes since the last call, to publish once per sync interval. Always a payload,
   * even with no windows: peers take any message as proof this node is alive and gossiping, so an
   * idle node must not fall silent and make everyone else degraded.
   */
  takeDelta(now: number): ApproximatePayload {
    return this.payload(this.counters.takeDelta(now));
  }

  /** Every retained window in full, for anti-entropy (periodically, and to a node that just joined). */
  fullState(now: number): ApproximatePayload {
    return this.payload(this.counters.fullState(now));
  }

  /**
   * Merges a peer's delta or full state. Malformed parts are skipped and counted; a payload for
   * another limit or window length is refused whole and does not count as hearing from the peer, so
   * a misconfigured peer shows up as a stale one.
   */
  mergeRemote(from: NodeId, payload: unknown, now: number): RemoteMergeReport {
    const refused: RemoteMergeReport = { accepted: false, counters: 0, malformed: 0, outOfRange: 0 };
    if (from === this.self) return refused; // our own publish echoed back by the bus
    if (!isPlainObject(payload) || payload.limit !== this.name || payload.windowMs !== this.windowMs) {
      this.counts.malformed++;
      return { ...refused, malformed: 1 };
    }
    this.pruneOnWindowChange(now);
    this.peers.heard(from, now);
    const r = this.counters.mergeEncoded(payload.windows, now);
    this.counts.mergedCounters += r.counters;
    this.counts.malformed += r.malformed;
    this.counts.outOfRange += r.outOfRange;
    return { accepted: true, ...r };
  }

  /** The live node set from membership (self may be included). Replaces the last one; see PeerHealth. */
  setMembers(members: Iterable<NodeId>, now: number): void {
    this.peers.setMembers(members, now);
  }

  /** A peer announced it is leaving: the cluster is smaller now, not partitioned. */
  peerLeft(node: NodeId, _now: number): void {
    this.peers.peerLeft(node);
  }

  /** Whether this node sees the whole cluster now (see PeerHealth.check). */
  health(now: number): ClusterHealth {
    return this.peers.check(now);
  }

  /** The merged cluster total for `key` in the current window, as this node sees it. */
  spent(key: string, now: number): number {
    return this.counters.value(windowIdAt(now, this.windowMs), key);
  }

  /** When `node` was last heard from, or undefined. */
  heardAt(node: NodeId): number | undefined {
    return this.peers.heardAt(node);
  }

  get stats(): Readonly<ApproximateLimiterStats> {
    return { ...this.counts };
  }

  private decide(key: string, cost: number, now: number, record: boolean): Decision {
    checkCount('cost', cost);
    this.pruneOnWindowChange(now);
    const windowId = windowIdAt(now, this.windowMs);
    const resetAt = windowEndAt(windowId, this.windowMs);
    const { degraded, clusterSize } = this.health(now);
    const clusterLeft = this.limit - this.counters.value(windowId, key);
    let capacity = clusterLeft;
    if (degraded && this.degradedMode === DegradedMode.SafeShare) {
      // Every node cut off keeps to its share, so together they stay near the limit.
      const share = Math.floor(this.limit / clusterSize);
      capacity = Math.min(clusterLeft, share - this.counters.valueAt(windowId, key, this.self));
    } else if (degraded && this.degradedMode === DegradedMode.FailClosed) {
      capacity = 0;
    } // fail-open: trust the partial view, as if the unseen peers spent nothing.
    const wouldLimit = capacity <= 0 || cost > capacity;
    const allowed = !wouldLimit || !this.enforce;
    if (allowed && record) this.counters.add(windowId, key, cost);
    const untilReset = resetAt - now;
    return {
      allowed,
      limitName: this.name,
      limit: this.limit,
      remaining: Math.max(0, capacity - (allowed ? cost : 0)),
      resetAt,
      // Fail-closed may heal as soon as gossip resumes; anything else frees up when the window ends.
      retryAfterMs: allowed
        ? 0
        : degraded && this.degradedMode === DegradedMode.FailClosed ? Math.min(this.staleMs, untilReset) : untilReset,
      windowId,
      degraded,
      wouldLimit,
    };
  }

  private payload(windows: EncodedWindows): ApproximatePayload {
    return { limit: this.name, windowMs: this.windowMs, windows };
  }

  /** Drops old windows once per window, so a node that never gossips (no bus) still forgets them. */
  private pruneOnWindowChange(now: number): void {
    const current = windowIdAt(now, this.windowMs);
    if (current !== this.prunedForWindow) {
      this.counters.prune(now);
      this.prunedForWindow = current;
    }
  }
}

export interface OverAdmissionInput {
  /** Each node's admission rate, in units per ms. */
  nodeRatesPerMs: readonly number[];
  /** The gossip interval: a node's spend waits up to this long for the next delta. */
  syncMs: number;
  /** The longest a delta spends on the bus. On a lossy bus add one `syncMs` per delta lost in a row. */
  busDelayMs: number;
}

/**
 * How far a window's total may pass the limit, in units: ≈ Σ rate × (syncMs + busDelayMs). A node's
 * spend reaches its peers at most syncMs + busDelayMs later, so once the true total reaches the
 * limit every node sees it within that interval and refuses; until then each node keeps admitting
 * at its rate. A lost delta is healed by the next one (deltas carry totals), hence one more syncMs
 * per loss in a row. Costs add no slack: a request that would cross the limit in the node's view is refused.
 */
export function overAdmissionBound({ nodeRatesPerMs, syncMs, busDelayMs }: OverAdmissionInput): number {
  if (!(syncMs >= 0) || !(busDelayMs >= 0)) throw new InvalidArgumentError('syncMs and busDelayMs must be non-negative');
  let sum = 0;
  for (const r of nodeRatesPerMs) {
    if (!(r >= 0) || !Number.isFinite(r)) throw new InvalidArgumentError(`a node rate must be a non-negative number, got ${r}`);
    sum += r;
  }
  return sum * (syncMs + busDelayMs);
}

function checkCount(field: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`'${field}' must be a non-negative integer, got ${n}`);
}

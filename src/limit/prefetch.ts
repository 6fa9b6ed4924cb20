// Decides when a node asks the strict singleton for more permits, and how many (seed 002,
// qiwzhang/rate-limit-prefetch cache.go). The lease is sized from the demand seen over the last
// predictWindowMs, never below minPrefetch; the node asks once its pool falls under half of that, so
// the grant lands while the rest is still being spent and admission stays local. A short grant means
// the window's budget is nearly gone: wait closeWaitMs before asking again rather than hammer the singleton.
//
// Unlike the seed, a node never spends permits it has asked for but not yet been granted (the seed
// does so after idle to avoid rejecting the first request): strict mode promises exact accounting, so
// the first request after idle waits for the grant instead.
import { InvalidArgumentError } from '../errors.ts';

export interface PrefetchConfig {
  /** How far back demand is counted to size a lease, ms. Default 1000. */
  readonly predictWindowMs: number;
  /** Smallest lease asked for, units (requests or tokens). Default 10. */
  readonly minPrefetch: number;
  /** Pause after a short grant or a failed ask before asking again, ms. Default 500. */
  readonly closeWaitMs: number;
}

export const DEFAULT_PREDICT_WINDOW_MS = 1_000;
export const DEFAULT_MIN_PREFETCH = 10;
export const DEFAULT_CLOSE_WAIT_MS = 500;

export const defaultPrefetchConfig = (): PrefetchConfig => ({
  predictWindowMs: DEFAULT_PREDICT_WINDOW_MS,
  minPrefetch: DEFAULT_MIN_PREFETCH,
  closeWaitMs: DEFAULT_CLOSE_WAIT_MS,
});

export function checkPrefetchConfig(c: PrefetchConfig): void {
  if (!Number.isFinite(c.predictWindowMs) || c.predictWindowMs <= 0) {
    throw new InvalidArgumentError(`prefetch.predictWindowMs must be a positive number of ms, got ${c.predictWindowMs}`);
  }
  if (!Number.isSafeInteger(c.minPrefetch) || c.minPrefetch < 1) {
    throw new InvalidArgumentError(`prefetch.minPrefetch must be an integer ≥ 1, got ${c.minPrefetch}`);
  }
  if (!Number.isFinite(c.closeWaitMs) || c.closeWaitMs < 0) {
    throw new InvalidArgumentError(`prefetch.closeWaitMs must be a non-negative number of ms, got ${c.closeWaitMs}`);
  }
}

interface DemandEntry { at: number; units: number }

/** Prefetch sizing for one limit key on one node. Pure: every call takes `now`; the actor does the asking. */
export class LeasePrefetch {
  readonly config: PrefetchConfig;
  // Demand entries in time order; entries before `head` have left the predict window.
  private entries: DemandEntry[] = [];
  private head = 0;
  private demandSum = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  private inFlight = false;
  private closedUntil = Number.NEGATIVE_INFINITY;

  constructor(config: Partial<PrefetchConfig> = {}) {
    const full = { ...defaultPrefetchConfig(), ...config };
    checkPrefetchConfig(full);
    this.config = Object.freeze(full);
  }

  /** Counts units asked for at `now`, admitted or not: the lease must cover demand, not past grants. */
  recordDemand(now: number, units: number): void {
    checkNow(now);
    if (!Number.isSafeInteger(units) || units < 0) throw new InvalidArgumentError(`units must be a non-negative integer, got ${units}`);
    if (units === 0) return;
    // Keep entries sorted even if a caller's clock steps back.
    const at = Math.max(now, this.lastAt);
    this.lastAt = at;
    const last = this.entries[this.entries.length - 1];
    if (last && last.at === at && this.entries.length > this.head) last.units += units;
    else this.entries.push({ at, units });
    this.demandSum += units;
  }

  /** Units demanded in (now − predictWindowMs, now]. */
  demand(now: number): number {
    checkNow(now);
    const from = now - this.config.predictWindowMs;
    while (this.head < this.entries.length && this.entries[this.head]!.at <= from) {
      this.demandSum -= this.entries[this.head]!.units;
      this.head++;
    }
    // Compact once the dead prefix dominates, so the array does not grow without bound.
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return this.demandSum;
  }

  /** The lease this node wants to hold: recent demand, at least minPrefetch. */
  desired(now: number): number { return Math.max(this.demand(now), this.config.minPrefetch); }

  /**
   * Units to ask for now, or 0. Asks only when no ask is in flight, the close wait is over and the
   * pool is under half the desired lease; it asks for the whole desired lease, as the seed does, so
   * the pool refills to between one and one and a half leases.
   */
  shouldAsk(now: number, poolRemaining: number): number {
    checkNow(now);
    if (!Number.isFinite(poolRemaining) || poolRemaining < 0) {
      throw new InvalidArgumentError(`poolRemaining must be a non-negative number, got ${poolRemaining}`);
    }
    if (this.inFlight || now < this.closedUntil) return 0;
    const want = this.desired(now);
    return poolRemaining < want / 2 ? want : 0;
  }

  /** At most one ask is in flight: a second one would double the lease for the same demand. */
  onAskSent(now: number): void {
    checkNow(now);
    if (this.inFlight) throw new InvalidArgumentError('an ask is already in flight');
    this.inFlight = true;
  }

  onGrant(now: number, asked: number, granted: number): void {
    checkNow(now);
    if (!Number.isSafeInteger(asked) || asked < 1) throw new InvalidArgumentError(`asked must be an integer ≥ 1, got ${asked}`);
    if (!Number.isSafeInteger(granted) || granted < 0 || granted > asked) {
      throw new InvalidArgumentError(`granted must be an integer in [0, ${asked}], got ${granted}`);
    }
    this.inFlight = false;
    if (granted < asked) this.closedUntil = now + this.config.closeWaitMs;
  }

  /**
   * The ask timed out or found no singleton (failover under way): back off like a short grant, so a
   * cluster of nodes does not storm the singleton being elected.
   */
  onAskFailed(now: number): void {
    checkNow(now);
    this.inFlight = false;
    this.closedUntil = now + this.config.closeWaitMs;
  }

  /** A new window brings a fresh budget: a short grant in the last one says nothing about this one. */
  onWindowStart(): void { this.closedUntil = Number.NEGATIVE_INFINITY; }

  get askInFlight(): boolean { return this.inFlight; }

  /** Epoch ms before which no ask is made after a short grant or failure; −Infinity when open. */
  get closedUntilAt(): number { return this.closedUntil; }
}

function checkNow(now: number): void {
  if (!Number.isFinite(now)) throw new InvalidArgumentError(`now must be finite epoch ms, got ${now}`);
}

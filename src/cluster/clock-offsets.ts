// How far other voters' clocks are from ours, from vote round trips (NTP's reasoning): a voter's
// clock read `at` somewhere between our send and our receipt, so the difference lies in between.
// A node whose clock is surely off from a quorum's must neither win nor grant. Pure.

/** Bounds on another clock minus ours, from one request/reply, ms. */
export interface ClockOffset { readonly voter: string; readonly lowMs: number; readonly highMs: number; readonly at: number }

/** Clock bounds older than this many leases are forgotten: a clock that was fixed stops counting as off. */
const OFFSET_FRESH_LEASES = 4;

/** The other clock is surely further than `skewMs` from ours: its whole interval lies outside ±skewMs. */
export const offBeyond = (o: ClockOffset, skewMs: number): boolean => o.lowMs > skewMs || o.highMs < -skewMs;

export class ClockOffsets {
  /** Per voter, the last bounds on its clock's difference from ours. */
  private readonly byVoter = new Map<string, ClockOffset>();

  constructor(private readonly leaseMs: number) {}

  /** Records the bounds from a reply read at `at` by the voter, sent at `sentAt` and received `now` (our clock). */
  record(voter: string, at: number, sentAt: number, now: number): ClockOffset {
    const o: ClockOffset = { voter, lowMs: at - now, highMs: at - sentAt, at: now };
    this.byVoter.set(voter, o);
    return o;
  }

  /**
   * Whether our clock is surely off: some fresh bounds are beyond `skewMs` and the voters that agree
   * with us (`selfVotes` counts our own) are fewer than `quorum`.
   */
  suspect(now: number, skewMs: number, selfVotes: number, quorum: number): boolean {
    let off = 0;
    let fine = selfVotes;
    for (const o of this.byVoter.values()) {
      if (now - o.at > OFFSET_FRESH_LEASES * this.leaseMs) continue;
      if (offBeyond(o, skewMs)) off++;
      else fine++;
    }
    return off > 0 && fine < quorum;
  }

  all(): ClockOffset[] { return [...this.byVoter.values()]; }
}

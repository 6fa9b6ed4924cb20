// Who an election counts: the fixed voters (cluster.voters) when configured, else every member this
// node knows. A member stays known for forgetAfterMs after it was last seen live, so one that merely
// went quiet keeps counting toward the quorum (a majority of a set that shrank on its own is no
// majority at all). Pure: every method takes `now` where time matters.

export class ElectionMembers {
  /**
   * id → last time seen live. Kept current only for members no longer live: a live member is seen now,
   * and writing that for each one on every tick of every node was a cost worth saving.
   */
  private readonly known = new Map<string, number>();
  /** Live ids, this node included, sorted: every node orders candidates the same way. */
  private live: string[];
  private liveSet: ReadonlySet<string>;
  /** The `now` of the last setMembers: when the members live then were last seen. */
  private lastSeenAt: number;
  /** voterIds(), kept until a member is added or forgotten: a holder asks for it on every push and ack. */
  private voterList: readonly string[] | undefined;
  /** The list `live` was last built from: an equal list builds the same `live`. */
  private liveFrom: readonly string[] | undefined;

  constructor(
    private readonly self: string,
    startedAt: number,
    private readonly forgetAfterMs: number,
    private readonly voterSet: ReadonlySet<string> | undefined,
  ) {
    this.known.set(self, startedAt);
    this.live = [self];
    this.liveSet = new Set(this.live);
    this.lastSeenAt = startedAt;
  }

  /** The live member ids as membership sees them (this node included or not; it is added). */
  setMembers(now: number, liveIds: readonly string[]): void {
    // Called on every tick of every node with a list that rarely changes: rebuild only when it did.
    if (!sameIds(liveIds, this.liveFrom)) {
      // Those live until now were last seen at the previous call; those live from now on, now.
      for (const id of this.live) if (this.known.has(id)) this.known.set(id, this.lastSeenAt);
      this.live = [...new Set([this.self, ...liveIds])].sort();
      this.liveSet = new Set(this.live);
      this.liveFrom = liveIds.slice();
      for (const id of this.live) this.known.set(id, now);
      this.voterList = undefined;
    }
    this.lastSeenAt = now;
    if (this.known.size === this.live.length) return; // every member known is live: none to forget
    for (const [id, seenAt] of this.known) {
      if (id !== this.self && !this.liveSet.has(id) && now - seenAt > this.forgetAfterMs) {
        this.known.delete(id);
        this.voterList = undefined;
      }
    }
  }

  /** A member said goodbye: it no longer counts toward the quorum. */
  memberLeft(id: string): void {
    this.known.delete(id);
    this.voterList = undefined;
    this.live = this.live.filter((x) => x !== id);
    this.liveSet = new Set(this.live);
    this.liveFrom = undefined;
  }

  /** Votes a candidate needs: a majority of the fixed voters, else of the members known (live or recently silent). */
  quorum(): number { return Math.floor((this.voterSet?.size ?? this.known.size) / 2) + 1; }

  /** Whether `id` votes: a fixed voter, or (no fixed set) any member. */
  isVoter(id: string): boolean { return this.voterSet ? this.voterSet.has(id) : true; }

  /** Whether a vote from `id` counts now: a fixed voter, or a member this node knows. */
  counts(id: string): boolean { return this.voterSet ? this.voterSet.has(id) : this.known.has(id); }

  /** The fixed voters, else the members known. The same array until that changes. */
  voterIds(): readonly string[] {
    this.voterList ??= Object.freeze(this.voterSet ? [...this.voterSet] : [...this.known.keys()]);
    return this.voterList;
  }

  get fixed(): boolean { return this.voterSet !== undefined; }

  /** The lowest live voter for which `eligible` holds. */
  lowestVoter(eligible: (id: string) => boolean): string | undefined {
    return this.live.find((id) => this.isVoter(id) && eligible(id));
  }
}

const sameIds = (a: readonly string[], b: readonly string[] | undefined): boolean => {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

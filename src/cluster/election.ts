// Who holds the cluster singleton: a lease won from a majority of the voters and renewed every
// renewMs; lost when a majority stops renewing it. A vote is a promise (./voter-promise.ts); who votes
// and counts is ./election-members.ts; votes from a voter whose clock is surely more than
// maxClockSkewMs from ours do not count (./clock-offsets.ts). This file is the candidate, holder and
// follower. Pure: every method takes `now`; the singleton actor carries the messages over the bus. Why
// at most one node holds at a time, and why a holder's replicated books survive it:
// docs/strict-limits.md, "Election" and "Books".
import { ClockOffsets, offBeyond, type ClockOffset } from './clock-offsets.ts';
import { ElectionMembers } from './election-members.ts';
import { VoteRounds, type Round } from './vote-rounds.ts';
import { VoterPromise, type Ballot } from './voter-promise.ts';
import {
  checkedOptions, type ElectionOptions, type HolderAnnouncement, type HolderSession, type HolderView, type VoteReply, type VoteRequest,
} from './election-types.ts';

export class Election {
  readonly self: string;
  private readonly o: ElectionOptions & { readonly driftMarginMs: number };
  // As a voter.
  private readonly promise: VoterPromise;
  private highestTerm = 0;
  private readonly offsets: ClockOffsets;
  /** Votes not counted because the voter's clock was surely too far from ours. */
  skewedVotes = 0;
  private readonly members: ElectionMembers;
  // As a candidate or holder. term 0: not standing.
  private term = 0;
  private held = false;
  private leaseUntil = Number.NEGATIVE_INFINITY;
  private acquiredAt = 0;
  private predecessorKnown = false;
  private predecessorEndsAt = Number.NEGATIVE_INFINITY;
  private readonly rounds = new VoteRounds();
  // As a follower.
  private announced: { holder: string; term: number; until: number } | undefined;
  private readonly suspects = new Set<string>();
  /** Announcements of a higher term heard while this node held a valid lease: should never happen. */
  conflicts = 0;

  constructor(options: ElectionOptions) {
    this.o = checkedOptions(options);
    this.self = options.self;
    const voterSet = options.voters === undefined ? undefined : new Set(options.voters);
    this.members = new ElectionMembers(this.self, options.startedAt, options.forgetAfterMs, voterSet);
    this.offsets = new ClockOffsets(options.leaseMs);
    this.promise = new VoterPromise(options.leaseMs);
  }

  /** The live member ids as membership sees them (this node included or not; it is added). */
  setMembers(now: number, liveIds: readonly string[]): void { this.members.setMembers(now, liveIds); }

  /** A member said goodbye: it no longer counts toward the quorum. */
  memberLeft(id: string): void {
    if (id === this.self) return;
    this.members.memberLeft(id);
    this.suspects.delete(id);
  }

  /** Votes a candidate needs: a majority of the fixed voters, else of the members known (live or recently silent). */
  quorum(): number { return this.members.quorum(); }

  /** Whether `id` votes: a fixed voter, or (no fixed set) any member. */
  isVoter(id: string): boolean { return this.members.isVoter(id); }

  /** Who a holder replicates its books to: the fixed voters, else the members it knows. */
  voterIds(): readonly string[] { return this.members.voterIds(); }

  /** Whether the voter set is fixed (cluster.voters): quorums intersect however long a partition lasts. */
  get fixedVoters(): boolean { return this.members.fixed; }

  /**
   * A holder replicates its books under `term`: refused by a node that does not vote, in its grace (it
   * may have promised a later term before a restart), or by the voter's rule (./voter-promise.ts).
   */
  acceptBooks(holder: string, term: number, now: number): boolean {
    if (!this.isVoter(this.self) || this.inGrace(now)) return false;
    if (!this.promise.acceptBooks(holder, term)) return false;
    this.highestTerm = Math.max(this.highestTerm, term);
    return true;
  }

  /** Just (re)started: it may have promised a later term in a life it forgot, so it neither votes nor takes books yet. */
  inGrace(now: number): boolean { return now < this.o.startedAt + this.o.graceMs; }

  /**
   * Whether this node's clock is surely off from a quorum's by more than maxClockSkewMs
   * (./clock-offsets.ts). Such a node cannot win (those votes do not count) and should not grant.
   */
  clockSuspect(now: number): boolean {
    const skew = this.o.maxClockSkewMs;
    if (skew === undefined) return false;
    return this.offsets.suspect(now, skew, this.isVoter(this.self) ? 1 : 0, this.quorum());
  }

  /** A voter refused this node's term: a later one exists. Withdraw (always safe). */
  onStaleTerm(term: number, now: number): void {
    this.highestTerm = Math.max(this.highestTerm, term);
    if (this.term > 0 && this.term < term) this.withdraw(now);
  }

  /** A node says its clock is off: do not wait for it to stand. */
  onAbstain(id: string): void { if (id !== this.self) this.suspects.add(id); }

  /** The latest clock bounds per voter (metrics, tests). */
  clockOffsets(): ClockOffset[] { return this.offsets.all(); }

  /**
   * Called every renewMs. Returns the vote request to broadcast, when this node stands or renews;
   * this node's own vote is already counted.
   */
  tick(now: number): VoteRequest | undefined {
    this.expireAnnouncement(now);
    this.rounds.prune(now, this.o.leaseMs);
    if (this.inGrace(now)) return undefined;
    if (this.clockSuspect(now)) {
      // Our clock is off from a quorum's: hold nothing (the votes would not count anyway).
      if (this.term > 0) this.withdraw(now);
      return undefined;
    }
    if (this.term > 0) {
      if (!this.holding(now) && this.otherHolderKnown(now)) this.withdraw(now);
      else return this.openRound(now);
    }
    if (this.otherHolderKnown(now) || !this.isVoter(this.self)) return undefined;
    if (this.promise.boundElsewhere(this.self, now)) return undefined;
    if (this.preferred() !== this.self) return undefined;
    this.predecessorKnown = this.highestTerm > 0;
    this.predecessorEndsAt = Number.NEGATIVE_INFINITY;
    this.term = this.highestTerm + 1;
    this.highestTerm = this.term;
    this.held = false;
    return this.openRound(now);
  }

  /** A candidate asks for this node's vote. Also how candidates learn of each other (lower id wins a tie). */
  onVoteRequest(req: VoteRequest, now: number): VoteReply {
    if (req.candidate !== this.self) {
      this.suspects.delete(req.candidate);
      const outranked = req.term > this.term || (req.term === this.term && req.candidate < this.self);
      if (this.term > 0 && !this.holding(now) && outranked) this.withdraw(now);
    }
    const granted = this.vote(req, now);
    this.highestTerm = Math.max(this.highestTerm, req.term);
    return { voter: this.self, candidate: req.candidate, term: req.term, round: req.round, ...granted, highestTerm: this.highestTerm, at: now };
  }

  onVoteReply(reply: VoteReply, now: number): void {
    this.highestTerm = Math.max(this.highestTerm, reply.highestTerm);
    if (reply.candidate !== this.self || reply.term !== this.term || this.term === 0) return;
    if (!reply.granted) {
      if (reply.highestTerm > this.term && !this.holding(now)) this.withdraw(now);
      return;
    }
    const round = this.rounds.get(reply.round);
    if (!round || !this.isVoter(reply.voter)) return;
    if (reply.voter !== this.self && this.o.maxClockSkewMs !== undefined) {
      // The voter's clock read `at` between our send and our receipt: the difference lies in between.
      const o = this.offsets.record(reply.voter, reply.at, round.sentAt, now);
      if (offBeyond(o, this.o.maxClockSkewMs)) { this.skewedVotes++; return; }
    }
    round.votes.add(reply.voter);
    this.notePrior(reply, now);
    this.countRound(round, now);
  }

  onAnnouncement(a: HolderAnnouncement, now: number): void {
    this.highestTerm = Math.max(this.highestTerm, a.term);
    if (a.holder === this.self) return;
    if (this.holding(now)) {
      // Another node claims a later term while this lease is valid: impossible if the quorum argument
      // holds. Stepping down is always safe, so do that and count it.
      if (a.term > this.term) { this.conflicts++; this.withdraw(now); } else return;
    }
    if (!this.announced || this.announced.until <= now || a.term >= this.announced.term) {
      this.announced = { holder: a.holder, term: a.term, until: now + a.remainingMs };
    }
    this.suspects.delete(a.holder);
    if (this.term > 0) this.withdraw(now);
  }

  /** The holder resigned (graceful stop): release a promise made to it, so a successor need not wait it out. */
  onResign(holder: string, term: number, now: number): void {
    if (holder === this.self) return;
    this.promise.release(holder, now, term);
    if (this.announced?.holder === holder && this.announced.term === term) this.announced = undefined;
    this.memberLeft(holder);
  }

  /** Gives the lease up at once (graceful stop); returns what to broadcast, or undefined if not holding. */
  resign(now: number): { holder: string; term: number } | undefined {
    const term = this.holding(now) ? this.term : 0;
    this.withdraw(now);
    return term > 0 ? { holder: this.self, term } : undefined;
  }

  /** What a holder broadcasts after each renewal. */
  announcement(now: number): HolderAnnouncement | undefined {
    if (!this.holding(now)) return undefined;
    return { holder: this.self, term: this.term, remainingMs: this.leaseUntil - now };
  }

  /** Whether this node holds a valid lease: it may act as the singleton until `leaseEndsAt`. */
  holding(now: number): boolean { return this.term > 0 && this.held && now < this.leaseUntil; }

  get leaseEndsAt(): number { return this.held ? this.leaseUntil : Number.NEGATIVE_INFINITY; }

  /** This node's current holding, or undefined. The same term after a lapse is the same session. */
  session(now: number): HolderSession | undefined {
    if (!this.holding(now)) return undefined;
    const s = { term: this.term, acquiredAt: this.acquiredAt, predecessorKnown: this.predecessorKnown };
    if (!this.predecessorKnown) return s;
    const endedBy = Number.isFinite(this.predecessorEndsAt) ? Math.min(this.predecessorEndsAt, this.acquiredAt) : this.acquiredAt;
    return { ...s, predecessorEndedBy: endedBy };
  }

  /** The holder as this node knows it: itself while holding, else the last valid announcement. */
  view(now: number): HolderView | undefined {
    if (this.holding(now)) return { id: this.self, term: this.term };
    if (this.announced && this.announced.until > now) return { id: this.announced.holder, term: this.announced.term };
    return undefined;
  }

  /** When view() stops being valid unless something is heard: the lease's or the announcement's end. */
  viewValidUntil(now: number): number {
    if (this.holding(now)) return this.leaseUntil;
    if (this.announced && this.announced.until > now) return this.announced.until;
    return Number.POSITIVE_INFINITY;
  }

  /** Term this node stands or holds for (0: none), for tests and metrics. */
  get standingTerm(): number { return this.term; }

  private openRound(now: number): VoteRequest {
    const round = this.rounds.start(now);
    const req: VoteRequest = { candidate: this.self, term: this.term, round: round.id, ...(this.held ? {} : { books: true }) };
    const own = this.vote(req, now);
    if (own.granted) {
      round.votes.add(this.self);
      this.notePrior(own, now);
      this.countRound(round, now);
    }
    return req;
  }

  // A vote that replaced a promise of another term means someone may have held before us. Any
  // earlier holder's last quorum shares a voter with ours, so the latest end among our voters' earlier
  // promises bounds when its lease ended. Only votes that count toward winning matter.
  private notePrior(v: { priorTerm: number; priorEndsInMs: number }, now: number): void {
    if (this.held || v.priorTerm === 0 || v.priorTerm === this.term) return;
    this.predecessorKnown = true;
    this.predecessorEndsAt = Math.max(this.predecessorEndsAt, now + v.priorEndsInMs);
  }

  private countRound(round: Round, now: number): void {
    // Only members this node knows count: a quorum is a majority of one member set.
    let votes = 0;
    for (const v of round.votes) if (this.members.counts(v)) votes++;
    if (votes < this.quorum()) return;
    const until = round.sentAt + this.o.leaseMs - this.o.driftMarginMs;
    if (until <= now) return; // the votes came too late to be worth anything
    this.leaseUntil = Math.max(this.leaseUntil, until);
    if (!this.held) {
      this.held = true;
      this.acquiredAt = now;
    }
  }

  // The voter's rule (./voter-promise.ts), refused outright by a node that does not vote, and in its
  // grace (it may have promised a later term before a restart) to all but the holder it hears renewing.
  private vote(req: VoteRequest, now: number): Ballot {
    const renewingAnnounced = this.announced !== undefined && this.announced.until > now
      && this.announced.holder === req.candidate && this.announced.term === req.term;
    const mayVote = this.isVoter(this.self) && !(this.inGrace(now) && (req.candidate === this.self || !renewingAnnounced));
    return this.promise.vote(req, now, mayVote);
  }

  private withdraw(now: number): void {
    // Renouncing releases our own promise to ourselves: nobody else relies on it.
    this.promise.release(this.self, now);
    this.term = 0;
    this.held = false;
    this.leaseUntil = Number.NEGATIVE_INFINITY;
    this.predecessorKnown = false;
    this.predecessorEndsAt = Number.NEGATIVE_INFINITY;
    this.rounds.clear();
  }

  private otherHolderKnown(now: number): boolean {
    return this.announced !== undefined && this.announced.until > now && this.announced.holder !== this.self;
  }

  private expireAnnouncement(now: number): void {
    if (this.announced && this.announced.until <= now) {
      this.suspects.add(this.announced.holder);
      this.announced = undefined;
    }
  }

  /** The lowest live voter not suspected of being a holder that went silent. */
  private preferred(): string | undefined {
    return this.members.lowestVoter((id) => !this.suspects.has(id));
  }
}


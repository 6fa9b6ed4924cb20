// Who holds the cluster singleton: a lease won from a majority of the voters and renewed every
// renewMs; lost when a majority stops renewing it. A vote is a promise: the voter backs no other
// candidate for leaseMs after it, and no older term ever again. The voters are a fixed set when
// configured (cluster.voters), else the members a node knows. Votes from a voter whose clock is
// surely more than maxClockSkewMs from ours do not count. Pure: every method takes `now`; the
// singleton actor carries the messages over the bus. Why at most one node holds at a time, and why a
// holder's replicated books survive it: docs/strict-limits.md, "Election" and "Books".
import { InvalidArgumentError } from '../errors.ts';

export interface ElectionOptions {
  /** Required. This node's id; ids order candidates (the lowest live one stands). */
  readonly self: string;
  /** Required. How long one vote binds its voter, ms. */
  readonly leaseMs: number;
  /** Required. A candidacy or renewal round every renewMs; must be under leaseMs / 2 to survive a lost round. */
  readonly renewMs: number;
  /**
   * Required. After start, ms during which this node neither stands nor votes (except to renew the
   * holder it hears announced). At least leaseMs: a restarted node forgot the promises it made.
   */
  readonly graceMs: number;
  /** Required. A member silent this long stops counting toward the quorum, ms. */
  readonly forgetAfterMs: number;
  /** Optional. The holder's lease ends this long before its voters' promises can, ms. Default leaseMs / 50, at least 1. */
  readonly driftMarginMs?: number;
  /** Required. Epoch ms this node started. */
  readonly startedAt: number;
  /**
   * Optional. The fixed voter set (cluster.voters): only these stand and vote, and a quorum is a
   * majority of them whoever is alive. Unset: every node votes, a quorum is a majority of the known members.
   */
  readonly voters?: readonly string[] | undefined;
  /** Optional. A vote whose voter's clock is surely further than this from ours does not count, ms. Default: no check. */
  readonly maxClockSkewMs?: number | undefined;
}

export interface VoteRequest {
  readonly candidate: string;
  readonly term: number;
  readonly round: number;
  /** The candidate has not won this term yet: voters send their copy of the books with the vote. */
  readonly books?: boolean;
}

export interface VoteReply {
  readonly voter: string;
  readonly candidate: string;
  readonly term: number;
  readonly round: number;
  readonly granted: boolean;
  /** Highest term this voter has seen: a candidate behind it gives up. */
  readonly highestTerm: number;
  /** The term the voter had promised before this vote (0: none): tells a winner it has a predecessor. */
  readonly priorTerm: number;
  /**
   * When that earlier promise ends or ended, ms from now (negative: ago). Durations, not clock
   * readings, so clocks need not agree: receipt time + this is a bound on when the predecessor's lease ended.
   */
  readonly priorEndsInMs: number;
  /** The voter's clock when it voted: with the round's send and receive times it bounds the clocks' difference. */
  readonly at: number;
}

export interface HolderAnnouncement { readonly holder: string; readonly term: number; readonly remainingMs: number }

export interface HolderView { readonly id: string; readonly term: number }

/** One holding of the lease by this node: its term, when it began, and whether anyone held before. */
export interface HolderSession {
  readonly term: number;
  readonly acquiredAt: number;
  readonly predecessorKnown: boolean;
  /**
   * With a predecessor: a time (this node's clock) by which the predecessor's lease had surely ended,
   * from the voters' reports; at most acquiredAt. Windows it may have leased from start before this.
   */
  readonly predecessorEndedBy?: number;
}

interface VoterPromise { candidate: string; term: number; until: number }

/** Bounds on another clock minus ours, from one request/reply (NTP's reasoning), ms. */
export interface ClockOffset { readonly voter: string; readonly lowMs: number; readonly highMs: number; readonly at: number }
interface Round { sentAt: number; votes: Set<string> }

export class Election {
  readonly self: string;
  private readonly o: ElectionOptions & { readonly driftMarginMs: number };
  // As a voter.
  private promise: VoterPromise = { candidate: '', term: 0, until: Number.NEGATIVE_INFINITY };
  private highestTerm = 0;
  /** Highest term whose holder's books this voter accepted: no vote for an older term after it. */
  private booksTerm = 0;
  private readonly voterSet: ReadonlySet<string> | undefined;
  /** Per voter, the last bounds on its clock's difference from ours. */
  private readonly offsets = new Map<string, ClockOffset>();
  /** Votes not counted because the voter's clock was surely too far from ours. */
  skewedVotes = 0;
  // Members: id → last time seen live. Silent members keep counting toward the quorum for forgetAfterMs.
  private readonly known = new Map<string, number>();
  private live: string[] = [];
  /** The list `live` was last built from: an equal list builds the same `live`. */
  private liveFrom: readonly string[] | undefined;
  // As a candidate or holder. term 0: not standing.
  private term = 0;
  private held = false;
  private leaseUntil = Number.NEGATIVE_INFINITY;
  private acquiredAt = 0;
  private predecessorKnown = false;
  private predecessorEndsAt = Number.NEGATIVE_INFINITY;
  private nextRound = 1;
  private readonly rounds = new Map<number, Round>();
  // As a follower.
  private announced: { holder: string; term: number; until: number } | undefined;
  private readonly suspects = new Set<string>();
  /** Announcements of a higher term heard while this node held a valid lease: should never happen. */
  conflicts = 0;

  constructor(options: ElectionOptions) {
    const margin = options.driftMarginMs ?? Math.max(1, Math.floor(options.leaseMs / 50));
    this.o = { ...options, driftMarginMs: margin };
    if (typeof options.self !== 'string' || options.self === '') throw new InvalidArgumentError('self must be a non-empty id');
    for (const k of ['leaseMs', 'renewMs', 'graceMs', 'forgetAfterMs', 'startedAt'] as const) {
      if (!Number.isFinite(options[k]) || options[k] < 0) throw new InvalidArgumentError(`${k} must be a non-negative number, got ${options[k]}`);
    }
    if (!(options.leaseMs > 0) || !(options.renewMs > 0) || options.renewMs * 2 > options.leaseMs) {
      throw new InvalidArgumentError(`renewMs (${options.renewMs}) must be positive and at most leaseMs / 2 (${options.leaseMs})`);
    }
    if (!(margin > 0) || margin >= options.leaseMs - options.renewMs) {
      throw new InvalidArgumentError(`driftMarginMs must be positive and under leaseMs − renewMs, got ${margin}`);
    }
    if (options.voters !== undefined) {
      if (!Array.isArray(options.voters) || options.voters.length === 0 || options.voters.some((v) => typeof v !== 'string' || v === '')) {
        throw new InvalidArgumentError('voters must be a non-empty list of node ids');
      }
      this.voterSet = new Set(options.voters);
    }
    if (options.maxClockSkewMs !== undefined && !(options.maxClockSkewMs >= 0)) {
      throw new InvalidArgumentError(`maxClockSkewMs must be a non-negative number, got ${options.maxClockSkewMs}`);
    }
    this.self = options.self;
    this.known.set(this.self, options.startedAt);
    this.live = [this.self];
  }

  /** The live member ids as membership sees them (this node included or not; it is added). */
  setMembers(now: number, liveIds: readonly string[]): void {
    // Called on every tick of every node with a list that rarely changes: rebuild only when it did.
    if (!sameIds(liveIds, this.liveFrom)) {
      this.live = [...new Set([this.self, ...liveIds])].sort();
      this.liveFrom = liveIds.slice();
    }
    for (const id of this.live) this.known.set(id, now);
    for (const [id, seenAt] of this.known) if (id !== this.self && now - seenAt > this.o.forgetAfterMs) this.known.delete(id);
  }

  /** A member said goodbye: it no longer counts toward the quorum. */
  memberLeft(id: string): void {
    if (id === this.self) return;
    this.known.delete(id);
    this.live = this.live.filter((x) => x !== id);
    this.liveFrom = undefined;
    this.suspects.delete(id);
  }

  /** Votes a candidate needs: a majority of the fixed voters, else of the members known (live or recently silent). */
  quorum(): number { return Math.floor((this.voterSet?.size ?? this.known.size) / 2) + 1; }

  /** Whether `id` votes: a fixed voter, or (no fixed set) any member. */
  isVoter(id: string): boolean { return this.voterSet ? this.voterSet.has(id) : true; }

  /** Who a holder replicates its books to: the fixed voters, else the members it knows. */
  voterIds(): string[] { return this.voterSet ? [...this.voterSet] : [...this.known.keys()]; }

  /** Whether the voter set is fixed (cluster.voters): quorums intersect however long a partition lasts. */
  get fixedVoters(): boolean { return this.voterSet !== undefined; }

  /**
   * A holder replicates its books under `term`. Accepted unless this node does not vote, is in its grace
   * (it may have promised a later term before a restart), promised a later term, or promised this term
   * to another candidate. Once accepted, no older term gets this node's vote: what it holds stays in
   * the copy any later winner collects.
   */
  acceptBooks(holder: string, term: number, now: number): boolean {
    if (!this.isVoter(this.self) || now < this.o.startedAt + this.o.graceMs) return false;
    const p = this.promise;
    if (term < p.term || term < this.booksTerm || (term === p.term && holder !== p.candidate)) return false;
    this.booksTerm = term;
    this.highestTerm = Math.max(this.highestTerm, term);
    return true;
  }

  /**
   * Whether this node's clock is surely off: a quorum of the other voters that answered lately have
   * clocks surely further than maxClockSkewMs from ours. Such a node cannot win (those votes do not
   * count) and should not grant.
   */
  clockSuspect(now: number): boolean {
    const skew = this.o.maxClockSkewMs;
    if (skew === undefined) return false;
    let off = 0;
    let fine = this.isVoter(this.self) ? 1 : 0;
    for (const o of this.offsets.values()) {
      if (now - o.at > OFFSET_FRESH_LEASES * this.o.leaseMs) continue;
      if (offBeyond(o, skew)) off++;
      else fine++;
    }
    return off > 0 && fine < this.quorum();
  }

  /** A voter refused this node's term: a later one exists. Withdraw (always safe). */
  onStaleTerm(term: number, now: number): void {
    this.highestTerm = Math.max(this.highestTerm, term);
    if (this.term > 0 && this.term < term) this.withdraw(now);
  }

  /** A node says its clock is off: do not wait for it to stand. */
  onAbstain(id: string): void { if (id !== this.self) this.suspects.add(id); }

  /** The latest clock bounds per voter (metrics, tests). */
  clockOffsets(): ClockOffset[] { return [...this.offsets.values()]; }

  /**
   * Called every renewMs. Returns the vote request to broadcast, when this node stands or renews;
   * this node's own vote is already counted.
   */
  tick(now: number): VoteRequest | undefined {
    this.expireAnnouncement(now);
    this.pruneRounds(now);
    if (now < this.o.startedAt + this.o.graceMs) return undefined;
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
    if (this.promise.until > now && this.promise.candidate !== this.self) return undefined;
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
      const o: ClockOffset = { voter: reply.voter, lowMs: reply.at - now, highMs: reply.at - round.sentAt, at: now };
      this.offsets.set(reply.voter, o);
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
    if (this.promise.candidate === holder && this.promise.term === term) this.promise.until = Math.min(this.promise.until, now);
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
    const req: VoteRequest = { candidate: this.self, term: this.term, round: this.nextRound++, ...(this.held ? {} : { books: true }) };
    const round: Round = { sentAt: now, votes: new Set() };
    this.rounds.set(req.round, round);
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
    for (const v of round.votes) if (this.voterSet ? this.voterSet.has(v) : this.known.has(v)) votes++;
    if (votes < this.quorum()) return;
    const until = round.sentAt + this.o.leaseMs - this.o.driftMarginMs;
    if (until <= now) return; // the votes came too late to be worth anything
    this.leaseUntil = Math.max(this.leaseUntil, until);
    if (!this.held) {
      this.held = true;
      this.acquiredAt = now;
    }
  }

  // The voter's rule: one candidate per term, and no other candidate while a promise is live.
  private vote(req: VoteRequest, now: number): { granted: boolean; priorTerm: number; priorEndsInMs: number } {
    const p = this.promise;
    const priorTerm = p.term;
    const priorEndsInMs = p.term === 0 ? 0 : p.until - now;
    const renewingAnnounced = this.announced !== undefined && this.announced.until > now
      && this.announced.holder === req.candidate && this.announced.term === req.term;
    const inGrace = now < this.o.startedAt + this.o.graceMs;
    const refuse = !this.isVoter(this.self)
      || (inGrace && !renewingAnnounced && req.candidate !== this.self)
      || (inGrace && req.candidate === this.self)
      || req.term < p.term
      || req.term < this.booksTerm
      || (req.term === p.term && req.candidate !== p.candidate)
      || (p.until > now && req.candidate !== p.candidate);
    if (refuse) return { granted: false, priorTerm, priorEndsInMs };
    this.promise = { candidate: req.candidate, term: req.term, until: now + this.o.leaseMs };
    return { granted: true, priorTerm, priorEndsInMs };
  }

  private withdraw(now: number): void {
    // Renouncing releases our own promise to ourselves: nobody else relies on it.
    if (this.promise.candidate === this.self) this.promise.until = Math.min(this.promise.until, now);
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
    return this.live.find((id) => this.isVoter(id) && !this.suspects.has(id));
  }

  private pruneRounds(now: number): void {
    for (const [id, r] of this.rounds) if (now - r.sentAt > this.o.leaseMs) this.rounds.delete(id);
  }
}

/** Clock bounds older than this many leases are forgotten: a clock that was fixed stops counting as off. */
const OFFSET_FRESH_LEASES = 4;

/** The other clock is surely further than `skewMs` from ours: its whole interval lies outside ±skewMs. */
const offBeyond = (o: ClockOffset, skewMs: number): boolean => o.lowMs > skewMs || o.highMs < -skewMs;

const sameIds = (a: readonly string[], b: readonly string[] | undefined): boolean => {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

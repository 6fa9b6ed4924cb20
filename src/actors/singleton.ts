// The cluster singleton over the bus: runs the election (src/cluster/election.ts) on the injected
// clock, carries its votes and announcements, and tells listeners who holds. Exactly one node at a
// time may act as the strict limiter: the one whose lease, won from a majority, has not expired.
// Every voter also keeps a copy of the holder's books (src/limit/strict-books.ts): it accepts a holder's
// updates unless it promised a later term, and sends its copy with its vote to a new candidate, which
// continues from the merged copies. Choice and safety argument: docs/strict-limits.md.
import type { Bus, Json, Subscription } from '../bus/bus.ts';
import { subjectFor } from '../bus/bus.ts';
import type { Clock, TimerId } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { Election } from '../cluster/election.ts';
import type { HolderSession, HolderView } from '../cluster/election-types.ts';
import type { NodeMetrics } from '../metrics.ts';
import { BookCopy, parseEntries } from '../limit/strict-books.ts';
import { MAX_PART_CHARS } from '../bus/message-parts.ts';
import { outgoingCopy, parseBallotParts, parseCopyPart } from './singleton-copies.ts';
import { BooksFile, FileBackedCopy } from './books-file.ts';
import { CandidateCopies } from './candidate-copies.ts';
import type { Replication, SingletonView, Takeover } from './singleton-view.ts';
import type { Membership } from './membership.ts';
import { fields, isId, isTerm, mergeSynced, parseAnnouncement, parseSynced, parseVoteReply, parseVoteRequest, syncedToWire, type Synced } from './singleton-messages.ts';

export interface SingletonTimings {
  leaseMs: number;
  renewMs: number;
  graceMs: number;
  forgetAfterMs: number;
}

/**
 * Timings from the cluster section: renew every heartbeat, a lease of three (two lost rounds in a row
 * are survived), a grace of lease + one heartbeat (learn the members; outlive promises made before a
 * restart). A node alone on an in-process bus has no one to wait for: no grace.
 */
export function singletonTimings(cluster: Pick<Config['cluster'], 'heartbeatMs' | 'deadAfterMs'>, alone = false): SingletonTimings {
  const renewMs = cluster.heartbeatMs;
  const leaseMs = 3 * renewMs;
  return { leaseMs, renewMs, graceMs: alone ? 0 : leaseMs + renewMs, forgetAfterMs: Math.max(12 * cluster.deadAfterMs, 60_000) };
}

/** Worst case from a holder's crash to a successor holding: its lease runs out, then two rounds. */
export const successorWithinMs = (t: SingletonTimings): number => t.leaseMs + 2 * t.renewMs;

export interface SingletonOptions extends SingletonTimings {
  nodeId: string;
  cluster: string;
  /** cluster.voters: the fixed voter set; unset, every member votes. */
  voters?: readonly string[] | undefined;
  /** cluster.maxClockSkewMs: votes from clocks surely further off do not count; a node whose clock is off holds nothing. */
  maxClockSkewMs?: number | undefined;
  /** The longest strict window configured, ms (read at every use: a reload may change it); for booksComplete(). */
  longestWindowMs?: (() => number) | undefined;
  /** Largest list of book entries in one message, JSON characters: copies and replication go in parts (default MAX_PART_CHARS). */
  partChars?: number | undefined;
  /** cluster.booksDir: this voter's copy of the books is kept in this file across restarts (./books-file.ts). */
  booksFile?: string | undefined;
}


export class Singleton implements SingletonView {
  readonly election: Election;
  readonly nodeId: string;
  /** Times the known holder changed to another node or term. */
  changes = 0;
  malformed = 0;
  /** This voter's copy of the holder's books (on disk too with cluster.booksDir). */
  readonly books: BookCopy;
  /** When this voter's copy began: its start, or with a books file the start of the file's lineage. */
  private readonly copySince: number;
  private readonly fileCopy: FileBackedCopy | undefined;
  /** Book updates refused (a stale term, or this node in its grace). */
  booksRefused = 0;
  private readonly startedAt: number;
  private readonly partChars: number;
  /** The copies this node collects with its votes when it stands (./candidate-copies.ts). */
  private readonly copies = new CandidateCopies();
  /** Snapshots this voter sent in parts: their ids, so a candidate never mixes two. */
  private copySeq = 0;
  /** The term whose holding has started (see session()), and when this node last ticked. */
  private startedTerm = 0;
  private lastTickAt = Number.NEGATIVE_INFINITY;
  /** Whole books this voter got since it started (or this node's own holdings' books): see noteSynced. */
  private synced: Synced | undefined;
  private takeoverOf: Takeover | undefined;
  private suspect = false;
  /** The voters other than this node, for the replicator; rebuilt only when the election's list changes. */
  private others: { from: readonly string[]; ids: readonly string[] } | undefined;
  private readonly subs: Subscription[] = [];
  private readonly listeners = new Set<() => void>();
  private timer: TimerId | undefined;
  private expiryTimer: TimerId | undefined;
  private lastKnown: HolderView | undefined;
  private running = false;
  private last: HolderView | undefined;
  private lastSessionTerm = 0;
  private noHolderSince: number | undefined;
  private noHolderMs = 0;
  private unwatch: (() => void) | undefined;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly membership: Membership, private readonly o: SingletonOptions) {
    this.nodeId = o.nodeId;
    this.partChars = o.partChars ?? MAX_PART_CHARS;
    this.startedAt = clock.now();
    if (o.booksFile) {
      // Every update it acknowledged since the lineage began is in the file: the copy is that old.
      const { file, loaded } = BooksFile.open(o.booksFile, o.nodeId, this.startedAt);
      const books = new FileBackedCopy(file, () => this.synced);
      if (loaded) { books.load(loaded.entries); this.synced = loaded.synced; }
      this.books = this.fileCopy = books;
      this.copySince = file.since;
    } else {
      this.books = new BookCopy();
      this.copySince = this.startedAt;
    }
    this.election = new Election({
      self: o.nodeId, leaseMs: o.leaseMs, renewMs: o.renewMs, graceMs: o.graceMs, forgetAfterMs: o.forgetAfterMs, startedAt: this.startedAt,
      voters: o.voters, maxClockSkewMs: o.maxClockSkewMs,
    });
    this.noHolderSince = clock.now();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.subs.push(this.bus.subscribe(this.subject('vote'), (m) => this.onVoteRequest(m.data)));
    this.subs.push(this.bus.subscribe(this.subject(`ballot.${this.nodeId}`), (m) => this.onBallot(m.data)));
    this.subs.push(this.bus.subscribe(this.subject(`copy.${this.nodeId}`), (m) => this.onCopyPart(m.data)));
    this.subs.push(this.bus.subscribe(this.subject('holder'), (m) => this.onAnnouncement(m.data)));
    this.subs.push(this.bus.subscribe(this.subject('resign'), (m) => this.onResign(m.data)));
    this.subs.push(this.bus.subscribe(this.subject('abstain'), (m) => this.onAbstain(m.data)));
    this.subs.push(this.bus.subscribe(this.subject(`books.${this.nodeId}`), (m) => {
      const r = this.onBooks(m.data);
      if (r !== undefined) m.respond?.({ ok: r === 'ok', ...(r === 'later' ? { later: true } : {}), term: this.election.standingTerm, since: this.startedAt });
    }));
    this.unwatch = this.membership.onChange((c) => {
      if (c.type === 'member.left' && c.reason === 'goodbye') this.election.memberLeft(c.id);
      this.election.setMembers(this.clock.now(), this.membership.liveIds());
    });
    this.tick();
  }

  /** Stops taking part; a holder resigns so a successor need not wait for its lease to run out. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.expiryTimer);
    const resigned = this.election.resign(this.clock.now());
    if (resigned) this.bus.publish(this.subject('resign'), { ...resigned });
    for (const s of this.subs.splice(0)) s.unsubscribe();
    this.unwatch?.();
    this.changed();
  }

  holder(): HolderView | undefined { return this.running ? this.election.view(this.clock.now()) : undefined; }
  session(): HolderSession | undefined {
    const s = this.running ? this.election.session(this.clock.now()) : undefined;
    return s && this.started(s) ? s : undefined;
  }

  // A holding won on a ballot whose copy came in parts starts once the parts are in (they were sent
  // with the ballot, a few ms apart; takeover() merges the copies only once, at the start), or at the
  // next round at the latest: then a copy still missing a part is left out and the takeover treats its
  // windows as possibly incomplete (fenced: under-granting, never over-granting). The election itself
  // never waits: the vote counted, the lease runs and is announced as ever.
  private started(s: HolderSession): boolean {
    if (this.startedTerm === s.term) return true;
    if (this.lastTickAt <= s.acquiredAt && this.copies.waiting(s.term)) return false;
    this.startedTerm = s.term;
    return true;
  }

  takeover(): Takeover | undefined {
    const s = this.session();
    if (!s) return undefined;
    if (this.takeoverOf?.term !== s.term) {
      // Merged once, when the holding starts: later copies could only add what the quorum's already hold.
      const merged = this.copies.merge(s.term, this.election.quorum(), this.o.maxClockSkewMs ?? 0, s.predecessorKnown);
      this.takeoverOf = { term: s.term, ...merged };
      this.books.merge(merged.seed);
      // Our own copy now holds the seed and, from here on, every grant of this holding: it is synced
      // like a voter's that got our whole books (it stands for us if we stand again).
      this.noteSynced({ term: s.term, completeFrom: merged.completeFromAt });
    }
    return this.takeoverOf;
  }

  private otherVoters(): readonly string[] {
    const all = this.election.voterIds();
    if (this.others?.from !== all) this.others = { from: all, ids: all.filter((v) => v !== this.nodeId) };
    return this.others.ids;
  }

  replication(): Replication {
    const voter = this.election.isVoter(this.nodeId);
    const fileCopy = this.fileCopy;
    return {
      voters: () => this.otherVoters(),
      quorum: () => this.election.quorum(),
      // A holder whose books file the disk refused holds its updates in memory only: not toward a quorum.
      get selfVotes() { return voter && !fileCopy?.failed; },
      ownCopy: this.books,
      stale: (term) => this.stepDown(term),
      partChars: this.partChars,
    };
  }

  /**
   * The window start from which this node's copy of the books surely holds every grant a quorum
   * acknowledged: from when it started (+ skew), or earlier if it got whole books since (noteSynced).
   */
  copyCompleteFrom(): number {
    return Math.min(this.copySince + (this.o.maxClockSkewMs ?? 0), this.synced?.completeFrom ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Whether this voter's copy holds every grant of the current windows (up to the longest strict
   * window). The books survive a voter's restart only while a majority holds them: in a rolling
   * restart, wait for this on the voter just restarted before restarting the next one.
   */
  booksComplete(): boolean {
    const longest = this.o.longestWindowMs?.() ?? 0;
    return this.election.isVoter(this.nodeId) && this.copyCompleteFrom() <= this.clock.now() - longest;
  }

  /** Cached at every round and ballot: strict clients ask on every decision. */
  clockSuspect(): boolean { return this.suspect; }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Ms this node has known no holder since it started. */
  withoutHolderMs(): number {
    return this.noHolderMs + (this.noHolderSince === undefined ? 0 : this.clock.now() - this.noHolderSince);
  }

  /** Scrape-time gauges: holder changes, time without a holder, whether this node holds, its term. */
  registerMetrics(metrics: NodeMetrics): void {
    metrics.gauge('sluice_singleton_changes', 'Times the strict singleton holder changed, as this node saw it', () => this.changes);
    metrics.gauge('sluice_singleton_without_holder_seconds', 'Time this node knew no strict singleton holder', () => this.withoutHolderMs() / 1000);
    metrics.gauge('sluice_singleton_holder', '1 while this node holds the strict singleton lease', () => (this.session() ? 1 : 0));
    metrics.gauge('sluice_singleton_term', 'Term of the singleton holder this node knows (0: none)', () => this.holder()?.term ?? 0);
    metrics.gauge('sluice_singleton_books_complete', 'Voters: 1 while this node\'s copy of the strict books holds every grant of the current windows (a rolling restart waits for 1 before restarting the next voter)', () => (this.booksComplete() ? 1 : 0));
    metrics.gauge('sluice_singleton_clock_suspect', '1 while this node\'s clock is surely further than cluster.maxClockSkewMs from a quorum of voters (it holds and grants nothing)', () => (this.clockSuspect() ? 1 : 0));
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    this.lastTickAt = now;
    this.election.setMembers(now, this.membership.liveIds());
    const req = this.election.tick(now);
    if (req?.books) this.copies.keep(req.term, this.nodeId, { entries: this.books.all(), upSince: this.copySince, synced: this.synced });
    if (req) this.bus.publish(this.subject('vote'), { ...req });
    this.suspect = this.election.clockSuspect(now);
    if (this.suspect) this.bus.publish(this.subject('abstain'), { node: this.nodeId });
    this.books.prune(now, this.o.maxClockSkewMs ?? 0);
    this.announce();
    this.changed();
    this.timer = this.clock.setTimeout(() => this.tick(), this.o.renewMs);
  }

  private onVoteRequest(d: Json): void {
    const req = parseVoteRequest(d);
    if (!req) { this.malformed++; return; }
    if (req.candidate === this.nodeId) return; // our own broadcast; our vote was counted when it was sent
    const now = this.clock.now();
    const reply = this.election.onVoteRequest(req, now);
    // A copy goes with a vote for a candidate that has not won yet: taken now, in the same step as the
    // promise, it holds everything this voter accepted under older terms (it accepts none after).
    // A copy too large for one message goes in parts, the ballot first: the vote never waits behind
    // megabytes of books (a late vote does not count), and the holding waits for the parts (session()).
    const out: Record<string, Json> = { ...reply };
    const copy = reply.granted && req.books
      ? outgoingCopy(this.books.all(), this.partChars, { voter: this.nodeId, candidate: req.candidate, term: req.term, copy: `${this.startedAt.toString(36)}.${++this.copySeq}` })
      : undefined;
    if (copy) {
      Object.assign(out, copy.ballot);
      out.upForMs = now - this.copySince;
      if (this.synced) out.synced = syncedToWire(this.synced);
    }
    this.bus.publish(this.subject(`ballot.${req.candidate}`), out);
    for (const part of copy?.rest ?? []) this.bus.publish(this.subject(`copy.${req.candidate}`), part);
    this.changed();
  }

  private onBallot(d: Json): void {
    const reply = parseVoteReply(d);
    if (!reply) { this.malformed++; return; }
    const o = d as Record<string, Json>;
    if (reply.granted && reply.candidate === this.nodeId && o.books !== undefined) {
      const entries = parseEntries(o.books);
      const shape = parseBallotParts(o);
      if (!entries || !shape || typeof o.upForMs !== 'number' || !(o.upForMs >= 0)) { this.malformed++; return; }
      // Our clock: the voter had been up at least this long when we read its reply.
      if (this.copies.ballot(reply.term, reply.voter, shape, entries, { upSince: this.clock.now() - o.upForMs, synced: parseSynced(o.synced) }) === 'malformed') this.malformed++;
    }
    const before = this.election.leaseEndsAt;
    this.election.onVoteReply(reply, this.clock.now());
    this.suspect = this.election.clockSuspect(this.clock.now());
    // Won or extended: say so now, not at the next tick, so clients find the holder at once.
    if (this.election.leaseEndsAt > before && before <= this.clock.now()) this.announce();
    this.changed();
  }

  private onAnnouncement(d: Json): void {
    const a = parseAnnouncement(d);
    if (!a) { this.malformed++; return; }
    this.election.onAnnouncement(a, this.clock.now());
    this.changed();
  }

  private onResign(d: Json): void {
    const o = d as Record<string, Json> | null;
    if (!o || typeof o !== 'object' || !isId(o.holder) || !isTerm(o.term)) { this.malformed++; return; }
    this.election.onResign(o.holder, o.term, this.clock.now());
    this.changed();
  }

  // A part of a voter's copy that did not fit its ballot: kept for the current term until the copy is whole.
  private onCopyPart(d: Json): void {
    const p = parseCopyPart(d);
    if (!p || p.candidate !== this.nodeId) { this.malformed++; return; }
    const got = this.copies.part(p);
    if (got === 'malformed') this.malformed++;
    if (got === 'whole') this.changed();
  }

  // A holder replicates its books here (request/reply): merged if the election accepts its term. In
  // its grace this voter answers "later", not "refused": the holder keeps holding and tries again
  // (a refusal would make it step down, so a voter's restart would cost the cluster its holder).
  private onBooks(d: Json): 'ok' | 'refused' | 'later' | undefined {
    const o = fields(d);
    const entries = o ? parseEntries(o.entries) : undefined;
    if (!o || !isId(o.holder) || !isTerm(o.term) || !entries) { this.malformed++; return undefined; }
    const full = o.full === true ? parseSynced({ term: o.term, completeFrom: o.completeFrom ?? null }) : undefined;
    if (o.full !== undefined && !full) { this.malformed++; return undefined; }
    const now = this.clock.now();
    // In its grace, or with a books file the disk refused: it could not hold the update.
    if (this.election.inGrace(now) || this.fileCopy?.failed) { this.booksRefused++; return 'later'; }
    if (!this.election.acceptBooks(o.holder, o.term, now)) { this.booksRefused++; return 'refused'; }
    this.books.merge(entries);
    // The whole books of this term's holder: this copy now holds everything it held.
    if (full) this.noteSynced(full);
    return this.fileCopy?.failed ? 'later' : 'ok';
  }

  // Whole books received in this life: each makes the copy complete from its holder's bound on, so
  // the copy is complete from the lowest of them (any one of them came after this node started).
  private noteSynced(s: Synced): void {
    this.synced = mergeSynced(this.synced, s);
    this.fileCopy?.noteSynced(this.synced);
  }

  private onAbstain(d: Json): void {
    const o = fields(d);
    if (!o || !isId(o.node)) { this.malformed++; return; }
    this.election.onAbstain(o.node);
  }

  // A voter refused our books: a later term exists. Stepping down is always safe.
  private stepDown(term: number): void {
    if (this.election.standingTerm !== term) return;
    this.election.onStaleTerm(term + 1, this.clock.now());
    this.changed();
  }

  private announce(): void {
    const a = this.election.announcement(this.clock.now());
    if (a) this.bus.publish(this.subject('holder'), { ...a });
  }

  // Tells listeners when the holder or this node's session changed, keeps the counters, and wakes up
  // when the known lease runs out (no message marks that moment).
  private changed(): void {
    const now = this.clock.now();
    const view = this.holder();
    const sessionTerm = this.session()?.term ?? 0;
    if (view && (view.id !== this.lastKnown?.id || view.term !== this.lastKnown.term)) {
      this.changes++;
      this.lastKnown = view;
    }
    if (view && this.noHolderSince !== undefined) { this.noHolderMs += now - this.noHolderSince; this.noHolderSince = undefined; }
    if (!view && this.noHolderSince === undefined) this.noHolderSince = now;
    const same = view?.id === this.last?.id && view?.term === this.last?.term && sessionTerm === this.lastSessionTerm;
    this.last = view;
    this.lastSessionTerm = sessionTerm;
    this.clock.clearTimeout(this.expiryTimer);
    const until = this.election.viewValidUntil(now);
    if (this.running && Number.isFinite(until)) this.expiryTimer = this.clock.setTimeout(() => this.changed(), Math.max(0, until - now));
    if (!same) for (const fn of this.listeners) fn();
  }

  private subject(topic: string): string { return subjectFor(this.o.cluster, `singleton.${topic}`); }
}

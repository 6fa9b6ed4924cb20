// The cluster singleton over the bus: runs the election (src/cluster/election.ts) on the injected
// clock, carries its votes and announcements, and tells listeners who holds. Exactly one node at a
// time may act as the strict limiter: the one whose lease, won from a majority, has not expired.
// Choice and safety argument: docs/strict-limits.md.
import type { Bus, Json, Subscription } from '../bus/bus.ts';
import { subjectFor } from '../bus/bus.ts';
import type { Clock, TimerId } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { Election, type HolderAnnouncement, type HolderSession, type HolderView, type VoteReply, type VoteRequest } from '../cluster/election.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { Membership } from './membership.ts';

/** What the strict limiter's server and clients need from the singleton. */
export interface SingletonView {
  readonly nodeId: string;
  /** The holder as this node knows it, or undefined while none is known. */
  holder(): HolderView | undefined;
  /** This node's holding, while it holds. */
  session(): HolderSession | undefined;
  /** Called whenever holder() or session() may have changed. */
  onChange(fn: () => void): () => void;
}

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
}

export class Singleton implements SingletonView {
  readonly election: Election;
  readonly nodeId: string;
  /** Times the known holder changed to another node or term. */
  changes = 0;
  malformed = 0;
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
    this.election = new Election({ self: o.nodeId, leaseMs: o.leaseMs, renewMs: o.renewMs, graceMs: o.graceMs, forgetAfterMs: o.forgetAfterMs, startedAt: clock.now() });
    this.noHolderSince = clock.now();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.subs.push(this.bus.subscribe(this.subject('vote'), (m) => this.onVoteRequest(m.data)));
    this.subs.push(this.bus.subscribe(this.subject(`ballot.${this.nodeId}`), (m) => this.onBallot(m.data)));
    this.subs.push(this.bus.subscribe(this.subject('holder'), (m) => this.onAnnouncement(m.data)));
    this.subs.push(this.bus.subscribe(this.subject('resign'), (m) => this.onResign(m.data)));
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
  session(): HolderSession | undefined { return this.running ? this.election.session(this.clock.now()) : undefined; }

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
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    this.election.setMembers(now, this.membership.liveIds());
    const req = this.election.tick(now);
    if (req) this.bus.publish(this.subject('vote'), { ...req });
    this.announce();
    this.changed();
    this.timer = this.clock.setTimeout(() => this.tick(), this.o.renewMs);
  }

  private onVoteRequest(d: Json): void {
    const req = parseVoteRequest(d);
    if (!req) { this.malformed++; return; }
    if (req.candidate === this.nodeId) return; // our own broadcast; our vote was counted when it was sent
    const reply = this.election.onVoteRequest(req, this.clock.now());
    this.bus.publish(this.subject(`ballot.${req.candidate}`), { ...reply });
    this.changed();
  }

  private onBallot(d: Json): void {
    const reply = parseVoteReply(d);
    if (!reply) { this.malformed++; return; }
    const before = this.election.leaseEndsAt;
    this.election.onVoteReply(reply, this.clock.now());
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

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;
const isTerm = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function fields(d: Json): Record<string, Json> | undefined {
  return typeof d === 'object' && d !== null && !Array.isArray(d) ? d : undefined;
}

function parseVoteRequest(d: Json): VoteRequest | undefined {
  const o = fields(d);
  if (!o || !isId(o.candidate) || !isTerm(o.term) || !isCount(o.round)) return undefined;
  return { candidate: o.candidate, term: o.term, round: o.round };
}

function parseVoteReply(d: Json): VoteReply | undefined {
  const o = fields(d);
  if (!o || !isId(o.voter) || !isId(o.candidate) || !isTerm(o.term) || !isCount(o.round) || typeof o.granted !== 'boolean'
    || !isCount(o.highestTerm) || !isCount(o.priorTerm) || typeof o.priorEndsInMs !== 'number' || !Number.isFinite(o.priorEndsInMs)) return undefined;
  return {
    voter: o.voter, candidate: o.candidate, term: o.term, round: o.round, granted: o.granted,
    highestTerm: o.highestTerm, priorTerm: o.priorTerm, priorEndsInMs: o.priorEndsInMs,
  };
}

function parseAnnouncement(d: Json): HolderAnnouncement | undefined {
  const o = fields(d);
  if (!o || !isId(o.holder) || !isTerm(o.term) || typeof o.remainingMs !== 'number' || !(o.remainingMs >= 0) || o.remainingMs > 3_600_000) return undefined;
  return { holder: o.holder, term: o.term, remainingMs: o.remainingMs };
}

// The holder's side of the replicated books: every change of its ledger goes to every voter (request/
// reply on `singleton.books.<voter>`), and a grant may be answered only once a quorum of voters holds
// it (push() resolves true). Changes are running totals, so a voter that missed a message is caught
// up by the next one: each voter keeps a set of entries it has not acknowledged, and one request in
// flight per voter carries all of them. A voter that refuses our term (it promised a later one) makes
// the holder step down. Safety argument: docs/strict-limits.md, "Books".
import type { Bus, Json } from '../../bus/bus.ts';
import { subjectFor } from '../../bus/bus.ts';
import type { Clock, TimerId } from '../../clock.ts';
import { entryChars, type BookEntry } from '../../limit/strict-books.ts';
import { fitsInPart, MAX_PART_CHARS } from '../../bus/message-parts.ts';
import { windowIdAt } from '../../limit/windows.ts';
import type { Replication } from '../singleton-view.ts';
import { boundToWire } from '../singleton-messages.ts';

export interface ReplicatorOptions {
  cluster: string;
  nodeId: string;
  term: number;
  /** Longest wait for one request to a voter, ms; then it is sent again with whatever is new. */
  timeoutMs: number;
  /** Every entry of the holder's books: the first update of a term to each voter (and to a voter that restarted) carries all of them. */
  all?: () => readonly BookEntry[];
  /** Windows starting at or after this epoch ms are complete in the holder's books (-Infinity: all). */
  completeFrom?: number;
}

interface Pending { entry: BookEntry; version: number }
const entryId = (e: BookEntry): string => `${e.key}\u0000${e.windowId}\u0000${e.node}`;
interface VoterState {
  pending: Map<string, Pending>; acked: number; inFlight: boolean; retryAt: number;
  /** The voter must get the whole books (new term, or it restarted) before it counts as synced. */
  needFull: boolean;
  /** The voter's start time as it reported it: a change means it restarted and lost its copy. */
  since: number | undefined;
  /** Times the size share of the timeout is stretched for this voter: doubled by a timeout, halved by an answer. */
  backoff: number;
}
interface Waiter { version: number; resolve: (ok: boolean) => void; at: number }

/**
 * A push not held by a quorum within this many request timeouts is answered false (the node hears
 * "not holder" and asks again): without a majority, waiting answers and unsent entries must not pile up.
 */
const GIVE_UP_TIMEOUTS = 12;

/** JSON characters of entries a voter surely takes per ms (it parses and merges ~10× faster). */
const CHARS_PER_MS = 10_000;

/** Requests sent; refused (a later term: we step down); failed (lost, timed out); deferred (a voter in its grace). */
export interface ReplicatorStats { requests: number; refusals: number; failures: number; deferred: number }

export class BookReplicator {
  readonly stats: ReplicatorStats = { requests: 0, refusals: 0, failures: 0, deferred: 0 };
  private version = 0;
  private readonly voters = new Map<string, VoterState>();
  private waiters: Waiter[] = [];
  private flushTimer: TimerId | undefined;
  private flushAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  /** Smoothed round trip to the voters, ms: a lost request is sent again after a few of them. */
  private srttMs: number | undefined;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly r: Replication, private readonly o: ReplicatorOptions) {
    // Every voter gets the whole books first: a voter that holds them is synced with this term, and a
    // successor may count its copy complete (docs/strict-limits.md, "Books", start-up).
    if (o.all) {
      for (const v of r.voters()) this.voter(v);
      this.scheduleFlush(0);
    }
  }

  // Queues every entry for `st` and marks that the request carrying the last of them completes the copy.
  private fullTo(st: VoterState): void {
    if (!this.o.all) return;
    st.needFull = true;
    for (const e of this.o.all()) {
      const k = entryId(e);
      if (!st.pending.has(k)) st.pending.set(k, { entry: e, version: this.version });
    }
  }

  /**
   * Replicates `entries` (none: only waits for what is already pushed). Resolves true once a quorum of
   * voters holds everything pushed so far, false if this term was refused or the replicator stopped.
   */
  push(entries: readonly BookEntry[]): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (entries.length) {
      const version = ++this.version;
      if (this.r.selfVotes) this.r.ownCopy.merge(entries);
      for (const v of this.r.voters()) {
        const st = this.voter(v);
        for (const e of entries) st.pending.set(entryId(e), { entry: e, version });
      }
      this.scheduleFlush(0);
    }
    if (this.committed() >= this.version) return Promise.resolve(true);
    this.giveUpStale();
    return new Promise((resolve) => this.waiters.push({ version: this.version, resolve, at: this.clock.now() }));
  }

  /** Stops replicating; every waiting push resolves false. */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.flushTimer);
    for (const w of this.waiters.splice(0)) w.resolve(false);
  }

  private voter(id: string): VoterState {
    let st = this.voters.get(id);
    if (!st) {
      // A voter we had not heard of (membership grew): it starts with nothing acknowledged.
      st = { pending: new Map(), acked: 0, inFlight: false, retryAt: 0, needFull: false, since: undefined, backoff: 1 };
      this.voters.set(id, st);
      this.fullTo(st);
    }
    return st;
  }

  /** The highest version a quorum holds: ours (if we vote) and the voters' acknowledgements. */
  private committed(): number {
    const acks = this.r.voters().map((v) => this.voters.get(v)?.acked ?? 0);
    if (this.r.selfVotes) acks.push(this.version);
    acks.sort((a, b) => b - a);
    const q = this.r.quorum();
    return acks.length >= q ? acks[q - 1]! : -1;
  }

  // One timer, at the earliest time asked for: a retry due later never holds back a new change.
  private scheduleFlush(ms: number): void {
    if (this.stopped) return;
    const at = this.clock.now() + ms;
    if (this.flushTimer !== undefined && this.flushAt <= at) return;
    this.clock.clearTimeout(this.flushTimer);
    this.flushAt = at;
    this.flushTimer = this.clock.setTimeout(() => { this.flushTimer = undefined; this.flush(); }, ms);
  }

  // Bounds what a holder without a majority keeps: answers waiting too long are given up (false: no
  // grant goes out, the books still count it — under-granting only), and entries of windows over for
  // a whole window are dropped (no node can spend in them; voters prune them from their copies).
  private giveUpStale(): void {
    const now = this.clock.now();
    const horizon = now - GIVE_UP_TIMEOUTS * this.o.timeoutMs;
    if (this.waiters.length && this.waiters[0]!.at < horizon) {
      const keep: Waiter[] = [];
      for (const w of this.waiters) (w.at < horizon ? w.resolve(false) : keep.push(w));
      this.waiters = keep;
    }
    for (const st of this.voters.values()) {
      for (const [k, p] of st.pending) if (p.entry.windowId < windowIdAt(now, p.entry.windowMs) - 1) st.pending.delete(k);
    }
  }

  private flush(): void {
    if (this.stopped) return;
    this.giveUpStale();
    const now = this.clock.now();
    let retryIn = Number.POSITIVE_INFINITY;
    for (const v of this.r.voters()) {
      const st = this.voter(v);
      if (st.inFlight || (st.pending.size === 0 && !st.needFull)) continue;
      if (st.retryAt > now) { retryIn = Math.min(retryIn, st.retryAt - now); continue; }
      this.send(v, st);
    }
    if (Number.isFinite(retryIn)) this.scheduleFlush(retryIn);
  }

  private send(voter: string, st: VoterState): void {
    const all = [...st.pending.values()].sort((a, b) => a.version - b.version);
    // A request carries what fits one message (by JSON size: keys can be long); a copy of a whole
    // window of many keys goes in several, one after another.
    const batch = all.slice(0, fitsInPart(all, this.r.partChars ?? MAX_PART_CHARS, 0, (p) => entryChars(p.entry)));
    // An acknowledgement covers a version only if every pending entry up to it went in this request.
    const upTo = batch.length === all.length ? this.version : all[batch.length]!.version - 1;
    // Requests go one at a time and entries leave `pending` only when acknowledged: the one that
    // empties it has, with the ones before, delivered the whole books.
    const full = st.needFull && batch.length === all.length;
    st.inFlight = true;
    this.stats.requests++;
    const from = this.o.completeFrom ?? Number.NEGATIVE_INFINITY;
    const body: Json = {
      holder: this.o.nodeId, term: this.o.term, entries: batch.map((p) => ({ ...p.entry })),
      ...(full ? { full: true, completeFrom: boundToWire(from) } : {}),
    };
    const sentAt = this.clock.now();
    const timeoutMs = this.tryTimeoutMs(st, batch.reduce((n, p) => n + entryChars(p.entry), 0));
    this.bus.request(subjectFor(this.o.cluster, `singleton.books.${voter}`), body, timeoutMs).then(
      (reply) => {
        st.inFlight = false;
        st.backoff = Math.max(1, st.backoff / 2);
        const rtt = this.clock.now() - sentAt;
        this.srttMs = this.srttMs === undefined ? rtt : this.srttMs + (rtt - this.srttMs) / 8;
        const o = typeof reply === 'object' && reply !== null && !Array.isArray(reply) ? reply as Record<string, Json> : {};
        const since = o.since;
        if (typeof since === 'number') {
          // The voter restarted since it last answered: its copy lost what came before; send it all again.
          if (st.since !== undefined && since !== st.since) this.fullTo(st);
          st.since = since;
        }
        if (o.ok !== true && o.later === true) {
          // The voter just (re)started and takes no books in its grace: it holds nothing of this
          // request (nothing acknowledged); try again a round later, with whatever is new by then.
          this.stats.deferred++;
          st.retryAt = this.clock.now() + this.o.timeoutMs;
          this.scheduleFlush(this.o.timeoutMs);
          return;
        }
        if (o.ok !== true) {
          this.stats.refusals++;
          this.r.stale(this.o.term);
          this.stop();
          return;
        }
        st.acked = Math.max(st.acked, upTo);
        // What this request carried leaves `pending` (unless a newer total replaced it meanwhile): by
        // entry, not by version, since the whole books share one version and may take several requests.
        for (const p of batch) if (st.pending.get(entryId(p.entry)) === p) st.pending.delete(entryId(p.entry));
        if (full) st.needFull = false;
        this.settleWaiters();
        if (st.pending.size) this.scheduleFlush(0);
      },
      () => {
        // Lost, slow or no responder (a voter down): try again after a while, with whatever is new.
        st.inFlight = false;
        // A timeout has already waited: send again now. A fast failure (no responder: the voter is
        // down) waits a round before trying again, so a dead voter costs no busy loop.
        const timedOut = this.clock.now() - sentAt >= timeoutMs / 2;
        const wait = timedOut ? 0 : this.o.timeoutMs;
        // A request may take longer than the round trips learned from small ones (a part of 256 KiB
        // to parse and merge): each timeout doubles its size share, so the same request cannot time out forever.
        if (timedOut) st.backoff = Math.min(st.backoff * 2, 64);
        st.retryAt = this.clock.now() + wait;
        this.stats.failures++;
        this.scheduleFlush(wait);
      },
    );
  }

  /**
   * A few smoothed round trips, at least 10 ms (as strict-link.ts does for asks), plus time for the
   * request's size, stretched after timeouts to this voter; at most timeoutMs.
   */
  private tryTimeoutMs(st: VoterState, chars: number): number {
    if (this.srttMs === undefined) return this.o.timeoutMs;
    // Plus the time to carry, parse and merge the entries, at a rate well below what a voter manages,
    // doubled after each timeout: only that share, so a lost small request is retried as soon as ever.
    const sizeMs = Math.floor(chars / CHARS_PER_MS) * st.backoff;
    return Math.min(this.o.timeoutMs, Math.max(10, Math.ceil(3 * this.srttMs + 5)) + sizeMs);
  }

  private settleWaiters(): void {
    const c = this.committed();
    if (!this.waiters.length || this.waiters[0]!.version > c) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) (w.version <= c ? w.resolve(true) : keep.push(w));
    this.waiters = keep;
  }
}

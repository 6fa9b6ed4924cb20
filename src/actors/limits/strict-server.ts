// The strict limiter on the singleton holder: exact per-window accounting for every strict limit of
// the cluster (StrictLedger), answering `sync` requests from every node's prefetch client. One per
// node, listening on its own subject; it answers only while this node holds the singleton lease.
//
// A new holding (a new term) starts a new ledger from the books its quorum of voters sent with their
// votes (issue #12): the predecessor's grants are continued, not fenced. Every change is replicated to
// the voters (./strict-replicator.ts) and a node hears of a grant only once a quorum holds it, so a
// successor's merged copy has every grant a node could spend. Only windows those copies may miss
// (voters that restarted) keep the old fence (src/limit/strict-ledger.ts). A holder that lapses and
// wins its own term back keeps its ledger: nobody else can have held in between.
import type { Bus, BusMessage, Subscription } from '../../bus/bus.ts';
import type { Clock } from '../../clock.ts';
import { DEFAULT_MAX_CLOCK_SKEW_MS, StrictLedger, type LimitSpec } from '../../limit/strict-ledger.ts';
import { windowIdAt } from '../../limit/windows.ts';
import type { SingletonView } from '../singleton-view.ts';
import { BookReplicator } from './strict-replicator.ts';
import {
  encodeReply, exhaustedSubject, leaseSubject, parseSyncRequest, syncSubject,
  type SyncGrant, type SyncItem, type SyncReply,
} from './strict-protocol.ts';

export interface StrictServerOptions {
  cluster: string;
  /** Bound on clock differences between nodes, ms (cluster.maxClockSkewMs). */
  maxClockSkewMs?: number | undefined;
  /** How long one book update to a voter waits before it is sent again, ms. Default 250. */
  replicateTimeoutMs?: number | undefined;
}

export interface StrictServerStats {
  requests: number;
  malformed: number;
  notHolder: number;
  unitsGranted: number;
  unitsCredited: number;
  /** Units leased to waiting nodes as soon as others gave permits back. */
  unitsPushed: number;
  /** Items whose limit or window length differ from what the first node said: configs disagree. */
  specMismatches: number;
  /** Holdings started (a new ledger each). */
  sessions: number;
  /** Answers dropped because the books could not be replicated to a quorum in this term. */
  unreplicated: number;
}

/** Per node, key and window: what this holder has leased to the node, and whether its totals are known. */
interface NodeBook { received: number; reported: boolean }

interface Session {
  term: number;
  ledger: StrictLedger;
  /** Undefined when the singleton keeps no books (a test's hand-set singleton): grants need no quorum. */
  replicator: BookReplicator | undefined;
  specs: Map<string, LimitSpec>;
  books: Map<string, Map<number, Map<string, NodeBook>>>;
  /** Key+window pairs announced as exhausted and not refilled since. */
  exhausted: Set<string>;
  /** Per key+window, nodes that asked for more than they got, in the order they asked. */
  waitlist: Map<string, WaitEntry[]>;
  prunedAt: number;
}

interface WaitEntry { node: string; unmet: number; until: number }

/**
 * How long a short-served ask stays on the waitlist when the node does not say (its close wait), ms.
 * A node still short after that asks again, which puts it back; one that stopped asking must not be
 * sent permits it will not use.
 */
export const WAITLIST_MS = 500;

export class StrictServer {
  readonly stats: StrictServerStats = { requests: 0, malformed: 0, notHolder: 0, unitsGranted: 0, unitsCredited: 0, unitsPushed: 0, specMismatches: 0, sessions: 0, unreplicated: 0 };
  /** Called with every grant answered (units > 0): tests check that one node grants at a time. */
  onGranted: ((node: string, units: number, term: number) => void) | undefined;
  private sub: Subscription | undefined;
  private unwatch: (() => void) | undefined;
  private session: Session | undefined;
  private readonly skewMs: number;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly singleton: SingletonView, private readonly o: StrictServerOptions) {
    this.skewMs = o.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  }

  start(): void {
    if (this.sub) return;
    this.sub = this.bus.subscribe(syncSubject(this.o.cluster, this.singleton.nodeId), (m) => this.onSync(m));
    this.unwatch = this.singleton.onChange(() => this.sessionFor());
    this.sessionFor();
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.unwatch?.();
    this.session?.replicator?.stop();
    this.session = undefined;
  }

  /** The ledger of the current holding (tests and metrics). */
  get ledger(): StrictLedger | undefined { return this.singleton.session() ? this.session?.ledger : undefined; }

  private sessionFor(): Session | undefined {
    const s = this.singleton.session();
    if (!s) return undefined; // a lapse keeps the ledger: the same term may come back
    if (this.session?.term === s.term) return this.session;
    this.session?.replicator?.stop();
    const specs = new Map<string, LimitSpec>();
    const takeover = this.singleton.takeover?.();
    for (const e of takeover?.seed ?? []) if (!specs.has(e.key)) specs.set(e.key, { limit: e.limit, windowMs: e.windowMs });
    const replication = this.singleton.replication?.();
    const ledger = new StrictLedger({
      specOf: (key) => specs.get(key),
      maxClockSkewMs: this.skewMs,
      // The fence covers the windows the predecessor may have leased from (those starting before its
      // lease ended) that the voters' copies may not hold completely.
      ...(s.predecessorKnown ? { takeoverAt: s.predecessorEndedBy ?? s.acquiredAt } : {}),
      ...(takeover ? { seed: takeover.seed, completeFromAt: takeover.completeFromAt } : {}),
    });
    this.session = {
      term: s.term,
      specs,
      ledger,
      replicator: replication && new BookReplicator(this.bus, this.clock, replication, {
        cluster: this.o.cluster, nodeId: this.singleton.nodeId, term: s.term, timeoutMs: this.o.replicateTimeoutMs ?? 250,
        // What a voter that gets the whole books may count as complete: every window on a cold start
        // (nothing came before), else what this holding's own copies were complete for.
        all: () => ledger.entries(),
        completeFrom: s.predecessorKnown ? takeover?.completeFromAt ?? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY,
      }),
      books: new Map(),
      exhausted: new Set(),
      waitlist: new Map(),
      prunedAt: this.clock.now(),
    };
    this.stats.sessions++;
    return this.session;
  }

  private onSync(m: BusMessage): void {
    if (!m.respond) return;
    const req = parseSyncRequest(m.data);
    if (!req) { this.stats.malformed++; return; }
    this.stats.requests++;
    const session = this.sessionFor();
    if (!session) {
      this.stats.notHolder++;
      m.respond(encodeReply({ ok: false, reason: 'not-holder' }));
      return;
    }
    const now = this.clock.now();
    const items = req.items.map((item) => this.settle(session, req.node, item, now));
    const reply: SyncReply = { ok: true, holder: this.singleton.nodeId, term: session.term, items, at: now };
    // Every total in the answer must be held by a quorum before the node may spend it: the changes
    // made now, and any earlier ones still on their way (a retried ask re-delivers them).
    void this.committed(session).then((ok) => {
      if (!ok || this.singleton.session()?.term !== session.term) {
        this.stats.unreplicated++;
        m.respond!(encodeReply({ ok: false, reason: 'not-holder' }));
        return;
      }
      m.respond!(encodeReply(reply));
      const fresh = items.reduce((sum, g, i) => sum + Math.max(0, g.received - req.items[i]!.received), 0);
      if (fresh > 0) this.onGranted?.(req.node, fresh, session.term);
    });
  }

  private committed(s: Session): Promise<boolean> {
    const changes = s.ledger.takeChanges();
    return s.replicator ? s.replicator.push(changes) : Promise.resolve(true);
  }

  // One item: take the node's totals (its first word in this window is a report, later ones credit
  // returns), re-deliver what it has not received of earlier grants, then grant what is still wanted.
  private settle(s: Session, node: string, item: SyncItem, now: number): SyncGrant {
    const { key, windowId } = item;
    const spec = this.specFor(s, item);
    const book = this.bookOf(s, node, key, windowId, spec?.windowMs ?? item.windowMs, now);
    if (!spec) return { key, windowId, received: book.received, available: 0 };
    let credited = 0;
    if (!book.reported) {
      // The node's first word in this window: its totals are a report. Totals the copies already knew
      // make its returns creditable (the ledger tells the two apart). What the copies say it received
      // beyond its own total is never delivered now: a copy may hold a grant only a minority took (its
      // answer never went out), and delivering it would make it real. It stays counted as granted —
      // like a dead node's lease — so the books may over-count, never under-count. Answers lost within
      // this holding are still re-delivered: book.received counts from the node's own total on.
      s.ledger.restore([{ node, key, windowId, receivedTotal: item.received, returnedTotal: item.returned }]);
      book.received = item.received;
      book.reported = true;
    } else {
      credited = s.ledger.release(node, key, windowId, item.returned);
      this.stats.unitsCredited += credited;
    }
    const mark = `${key}\u0000${windowId}`;
    const undelivered = Math.max(0, book.received - item.received);
    if (item.want > undelivered) {
      const granted = s.ledger.grant(node, key, windowId, item.want - undelivered, now, item.aheadMs);
      book.received += granted;
      this.stats.unitsGranted += granted;
      this.waitFor(s, mark, node, item.want - undelivered - granted, now + (item.waitMs ?? WAITLIST_MS));
    } else if (item.want > 0 || credited > 0) this.waitFor(s, mark, node, 0, now);
    if (credited > 0) this.refill(s, key, windowId, mark, now);
    const available = s.ledger.available(key, windowId);
    if (available > 0) s.exhausted.delete(mark);
    else if (item.want > 0 && !s.exhausted.has(mark)) {
      s.exhausted.add(mark);
      this.bus.publish(exhaustedSubject(this.o.cluster), { key, windowId });
    }
    return { key, windowId, received: book.received, available };
  }

  /** Puts `node` on the waitlist for `unmet` more units until `until` (0 units takes it off). */
  private waitFor(s: Session, mark: string, node: string, unmet: number, until: number): void {
    const now = this.clock.now();
    const list = (s.waitlist.get(mark) ?? []).filter((e) => e.node !== node && e.until > now);
    if (unmet > 0 && until > now) list.push({ node, unmet, until });
    if (list.length) s.waitlist.set(mark, list);
    else s.waitlist.delete(mark);
  }

  // Permits came back: lease them to the nodes that asked and went short, first come first served,
  // and push each its new running total. A lost push is not lost units: the node's next sync shows
  // its total behind ours, and the difference is delivered then.
  private refill(s: Session, key: string, windowId: number, mark: string, now: number): void {
    const list = s.waitlist.get(mark);
    while (list?.length) {
      // Latest first: the node that asked last is the likeliest to still have requests waiting.
      const e = list[list.length - 1]!;
      const book = s.books.get(key)?.get(windowId)?.get(e.node);
      if (e.until <= now || !book) { list.pop(); continue; }
      const granted = s.ledger.grant(e.node, key, windowId, e.unmet, now);
      if (granted === 0) break;
      book.received += granted;
      this.stats.unitsGranted += granted;
      this.stats.unitsPushed += granted;
      e.unmet -= granted;
      if (e.unmet === 0) list.pop();
      const items = [{ key, windowId, received: book.received, available: s.ledger.available(key, windowId) }];
      const node = e.node;
      void this.committed(s).then((ok) => {
        if (!ok || this.singleton.session()?.term !== s.term) return; // the node's next sync collects it from whoever holds
        this.bus.publish(leaseSubject(this.o.cluster, node), encodeReply({ ok: true, holder: this.singleton.nodeId, term: s.term, items, at: this.clock.now() }));
        this.onGranted?.(node, granted, s.term);
      });
    }
    if (list && list.length === 0) s.waitlist.delete(mark);
  }

  // Nodes normally agree on a limit. If they do not, the smaller limit is kept (the safe choice); a
  // different window length cannot be reconciled, so those items get nothing.
  private specFor(s: Session, item: SyncItem): LimitSpec | undefined {
    const known = s.specs.get(item.key);
    if (!known) {
      const spec = { limit: item.limit, windowMs: item.windowMs };
      s.specs.set(item.key, spec);
      return spec;
    }
    if (known.windowMs !== item.windowMs) { this.stats.specMismatches++; return undefined; }
    if (item.limit < known.limit) {
      this.stats.specMismatches++;
      s.specs.set(item.key, { ...known, limit: item.limit });
    } else if (item.limit > known.limit) this.stats.specMismatches++;
    return s.specs.get(item.key);
  }

  private bookOf(s: Session, node: string, key: string, windowId: number, windowMs: number, now: number): NodeBook {
    this.pruneAll(s, now);
    // Same horizon as the ledger: a window no clock within the skew can still use is not kept.
    const oldest = windowIdAt(now - this.skewMs, windowMs) - 1;
    if (windowId < oldest || windowId > windowIdAt(now + this.skewMs, windowMs) + 1) return { received: 0, reported: true };
    let windows = s.books.get(key);
    if (!windows) s.books.set(key, (windows = new Map()));
    for (const id of windows.keys()) if (id < oldest) windows.delete(id);
    let nodes = windows.get(windowId);
    if (!nodes) windows.set(windowId, (nodes = new Map()));
    let book = nodes.get(node);
    // Not seeded from the copies: the node's first word sets it (settle()).
    if (!book) nodes.set(node, (book = { received: 0, reported: false }));
    return book;
  }

  // Keys nobody asks about any more (a client that left) would otherwise keep their books forever.
  private pruneAll(s: Session, now: number): void {
    if (now - s.prunedAt < PRUNE_EVERY_MS) return;
    s.prunedAt = now;
    s.ledger.prune(now);
    for (const [key, windows] of s.books) {
      const windowMs = s.specs.get(key)?.windowMs ?? 1;
      const oldest = windowIdAt(now - this.skewMs, windowMs) - 1;
      for (const id of windows.keys()) if (id < oldest) windows.delete(id);
      if (windows.size === 0) { s.books.delete(key); s.specs.delete(key); }
    }
    for (const [mark, list] of s.waitlist) {
      const live = list.filter((e) => e.until > now);
      if (live.length) s.waitlist.set(mark, live);
      else s.waitlist.delete(mark);
    }
  }
}

const PRUNE_EVERY_MS = 10_000;

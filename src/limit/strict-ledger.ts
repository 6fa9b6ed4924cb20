// The strict singleton's exact accounting: how many permits of a key's window it may still lease,
// and to whom it has leased them. Invariant: in every window, the permits nodes hold and have not
// given back (so may have spent) never exceed the limit, across any number of singleton failovers.
//
// Normal windows: available = limit − (granted − credited returns).
//
// Failover rule (the fence). A successor cannot know what a crashed holder granted: nodes that died
// or whose reports are lost hold an unknown share. So a ledger started with `takeoverAt` treats every
// window the predecessor could have leased from as fully granted. In a fenced window it leases only
// permits that nodes give back to it after reporting; that pool starts at 0. A holder leases only for
// windows within maxClockSkewMs of its own clock, and clocks differ by at most maxClockSkewMs, so
// the predecessor's windows all start at or before takeoverAt + 2 × maxClockSkewMs. Those are fenced.
// Windows after that are fresh. Safety also needs the election to stop the old holder granting
// before the new one starts (the singleton lease's expiry).
//
// Why the sum holds in a fenced window: the predecessor kept granted − its credits ≤ limit; this
// holder grants only from credits it received; every credit is a give-up the node really made, and no
// give-up is credited twice (below). So held − given up ≤ limit.
//
// Returns are cumulative, per node and window: `release` carries the node's running total of units
// given back (`returnedTotal`), not a delta. A duplicated, reordered or retried release then credits
// nothing twice, and a node's report sets the baseline: whatever it gave back before reporting (maybe
// to the dead holder, which may have re-leased it) is never credited again. So in a fenced window,
// returns count only from nodes that have reported; releases from a node with no record here are
// ignored. Every doubt under-credits, which strands permits for the rest of the window but never
// over-grants. Nodes should therefore report to every new holder as soon as they learn of it.
//
// Books that outlive the holder (issue #12): every change is replicated to the voters before the node
// may spend it (takeChanges feeds the replication), and a successor starts from the copies its quorum
// sent (`seed`). Windows those copies surely hold completely (`completeFromAt`, src/limit/strict-books.ts)
// are continued exactly, not fenced: the fence is left only for windows the copies may miss (voters
// that restarted), and for holders without copies.
//
// A cold start (no predecessor seen, e.g. the whole cluster restarted) has no fence: what was spent
// before the restart in the current window is not known, so that one window may admit up to twice.
import { InvalidArgumentError } from '../errors.ts';
import type { BookEntry } from './strict-books.ts';

export interface LimitSpec {
  /** Permits per window, units; integer ≥ 0. */
  readonly limit: number;
  /** Window length, ms; integer ≥ 1. Window ids are floor(epoch ms / windowMs) on every node. */
  readonly windowMs: number;
}

/** What a node tells a new holder about one key's window: its running totals across all holders. */
export interface LeaseReport {
  readonly node: string;
  readonly key: string;
  readonly windowId: number;
  /** Units leased to the node in this window so far, by any holder. */
  readonly receivedTotal: number;
  /** Units the node has given back in this window so far (whether or not the release arrived). */
  readonly returnedTotal: number;
}

export interface LeaseView {
  readonly node: string;
  readonly key: string;
  readonly windowId: number;
  /** Units leased and not given back, as this holder knows it. */
  readonly heldUnits: number;
}

export interface StrictLedgerOptions {
  /** The limit of a key, or undefined for a key this cluster does not limit strictly (grants 0). */
  readonly specOf: (key: string) => LimitSpec | undefined;
  /** Bound on the clock difference between any two nodes, ms. Default 250. */
  readonly maxClockSkewMs?: number;
  /** Epoch ms this holder took over from a predecessor; unset on a cold start (no fence). */
  readonly takeoverAt?: number;
  /** The books merged from the voters' copies: this holder continues them in complete windows. */
  readonly seed?: readonly BookEntry[];
  /** Windows starting at or after this epoch ms are complete in `seed` and never fenced. Default +Infinity. */
  readonly completeFromAt?: number;
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 250;

/**
 * A node may lease a window up to this long before it starts (never more than half a window): near an
 * edge a call is charged to the next window too (src/actors/limits/strict-landing.ts), so its lease
 * must be there before the edge. The fence covers windows a predecessor may have leased that early.
 */
export const MAX_AHEAD_MS = 2_000;
export const aheadCap = (windowMs: number): number => Math.min(MAX_AHEAD_MS, Math.floor(windowMs / 2));

interface NodeLease {
  receivedTotal: number;
  returnedTotal: number;
  /**
   * Whether returnedTotal is the node's own running total. In a fenced window a node that has not
   * reported yet may have given units back to the predecessor: its totals mean nothing until it reports.
   */
  baselineKnown: boolean;
}

interface WindowBook {
  readonly windowMs: number;
  fenced: boolean;
  /** Normal window: units leased minus credited returns. */
  netGranted: number;
  /** Fenced window: credited returns minus units re-leased. */
  pool: number;
  readonly leases: Map<string, NodeLease>;
}

export class StrictLedger {
  private readonly specOf: (key: string) => LimitSpec | undefined;
  private readonly skewMs: number;
  /** Windows starting at or before this epoch ms are fenced; −Infinity on a cold start. */
  private readonly fenceUntilAt: number;
  private readonly completeFromAt: number;
  private readonly books = new Map<string, Map<number, WindowBook>>();
  /** Leases changed since the last takeChanges(): what the holder must replicate. */
  private readonly dirty = new Map<string, { key: string; windowId: number; node: string }>();
  private lastNow = Number.NEGATIVE_INFINITY;

  constructor(options: StrictLedgerOptions) {
    const { specOf, maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS, takeoverAt } = options;
    if (typeof specOf !== 'function') throw new InvalidArgumentError('specOf must be a function');
    if (!Number.isFinite(maxClockSkewMs) || maxClockSkewMs < 0) {
      throw new InvalidArgumentError(`maxClockSkewMs must be a non-negative number of ms, got ${maxClockSkewMs}`);
    }
    if (takeoverAt !== undefined && !Number.isFinite(takeoverAt)) {
      throw new InvalidArgumentError(`takeoverAt must be finite epoch ms, got ${takeoverAt}`);
    }
    this.specOf = specOf;
    this.skewMs = maxClockSkewMs;
    this.fenceUntilAt = takeoverAt === undefined ? Number.NEGATIVE_INFINITY : takeoverAt + 2 * maxClockSkewMs;
    this.completeFromAt = options.completeFromAt ?? Number.POSITIVE_INFINITY;
    for (const e of options.seed ?? []) this.seedEntry(e);
  }

  // A seeded lease is the node's totals as a holder knew them: its returns are credited from there.
  private seedEntry(e: BookEntry): void {
    const spec = this.spec(e.key);
    if (!spec || spec.windowMs !== e.windowMs || this.isFenced(e.windowId, spec.windowMs)) return;
    const book = this.bookFor(e.key, e.windowId, spec.windowMs);
    const lease = leaseOf(book, e.node, true);
    const received = Math.max(lease.receivedTotal, e.received);
    const returned = Math.max(lease.returnedTotal, Math.min(e.returned, received));
    book.netGranted += (received - lease.receivedTotal) - (returned - lease.returnedTotal);
    lease.receivedTotal = received;
    lease.returnedTotal = returned;
  }

  /** Whether `node`'s totals in this window are known here (seeded or reported), so its returns can be credited. */
  knows(node: string, key: string, windowId: number): boolean {
    return this.books.get(key)?.get(windowId)?.leases.get(node)?.baselineKnown === true;
  }

  /** Every lease of every window kept, as book entries (a whole copy for a voter that has none). */
  entries(): BookEntry[] {
    const out: BookEntry[] = [];
    for (const [key, windows] of this.books) {
      const spec = this.specOf(key);
      if (!spec) continue;
      for (const [windowId, book] of windows) {
        for (const [node, l] of book.leases) out.push({ key, windowId, limit: spec.limit, windowMs: spec.windowMs, node, received: l.receivedTotal, returned: l.returnedTotal });
      }
    }
    return out;
  }

  /** The leases changed since the last call, as book entries to replicate (running totals). */
  takeChanges(): BookEntry[] {
    const out: BookEntry[] = [];
    for (const { key, windowId, node } of this.dirty.values()) {
      const spec = this.specOf(key);
      const lease = this.books.get(key)?.get(windowId)?.leases.get(node);
      if (!spec || !lease) continue;
      out.push({ key, windowId, limit: spec.limit, windowMs: spec.windowMs, node, received: lease.receivedTotal, returned: lease.returnedTotal });
    }
    this.dirty.clear();
    return out;
  }

  private touch(key: string, windowId: number, node: string): void {
    this.dirty.set(`${key}\u0000${windowId}\u0000${node}`, { key, windowId, node });
  }

  /**
   * Leases up to `asked` units of `key`'s window `windowId` to `node`; returns the units granted
   * (0 when the window is spent, fenced and empty, not current within the clock skew, or the key unknown).
   */
  grant(node: string, key: string, windowId: number, asked: number, now: number, aheadMs = 0): number {
    checkNode(node);
    checkWindowId(windowId);
    checkUnits('asked', asked);
    const at = this.advance(now);
    const spec = this.spec(key);
    if (!spec || asked === 0 || !this.accepts(windowId, spec.windowMs, at, aheadMs)) return 0;
    this.pruneKey(key, at);
    const book = this.bookFor(key, windowId, spec.windowMs);
    const granted = Math.min(asked, availableIn(book, spec.limit));
    if (granted === 0) return 0;
    const lease = leaseOf(book, node, !book.fenced);
    lease.receivedTotal += granted;
    this.touch(key, windowId, node);
    if (book.fenced) book.pool -= granted;
    else book.netGranted += granted;
    return granted;
  }

  /**
   * A node gives permits back: `returnedTotal` is its running total for this window. Credits the
   * increase since the last total seen (capped at what was leased to it); returns the units credited.
   */
  release(node: string, key: string, windowId: number, returnedTotal: number): number {
    checkNode(node);
    checkWindowId(windowId);
    checkUnits('returnedTotal', returnedTotal);
    const book = this.books.get(key)?.get(windowId);
    const lease = book?.leases.get(node);
    if (!book || !lease) return 0;
    const total = Math.min(returnedTotal, lease.receivedTotal);
    const credit = total - lease.returnedTotal;
    if (credit <= 0) return 0;
    this.touch(key, windowId, node);
    if (!lease.baselineKnown) {
      // Cannot tell this node's new give-ups from old ones: remember the total, credit nothing.
      lease.returnedTotal = total;
      return 0;
    }
    lease.returnedTotal = total;
    if (book.fenced) book.pool += credit;
    else book.netGranted -= credit;
    return credit;
  }

  /**
   * Merges node reports (any order, any number of times). A report never adds permits: in a fenced
   * window it sets the baseline that later releases are credited from. A report for a window that was
   * not fenced means the predecessor leased from it after all (clocks skewed past the bound): that
   * window becomes fenced if this holder has not leased from it yet, else the reported excess is
   * counted as granted — the best that can still be done.
   */
  restore(reports: readonly LeaseReport[]): void {
    for (const r of reports) {
      checkNode(r.node);
      checkWindowId(r.windowId);
      checkUnits('receivedTotal', r.receivedTotal);
      checkUnits('returnedTotal', r.returnedTotal);
      const spec = this.spec(r.key);
      if (!spec) continue;
      const existing = this.books.get(r.key)?.get(r.windowId);
      // Holding nothing proves nothing about a predecessor: it must not fence a fresh window.
      if (!existing && r.receivedTotal === 0 && !this.isFenced(r.windowId, spec.windowMs)) continue;
      const book = existing ?? this.bookFor(r.key, r.windowId, spec.windowMs);
      if (!existing) book.fenced = true;
      const known = book.leases.get(r.node)?.baselineKnown === true;
      const lease = leaseOf(book, r.node, true);
      lease.baselineKnown = true;
      this.touch(r.key, r.windowId, r.node);
      const extra = r.receivedTotal - lease.receivedTotal;
      if (extra > 0) {
        lease.receivedTotal = r.receivedTotal;
        if (!book.fenced) book.netGranted += extra;
      }
      const returned = Math.max(lease.returnedTotal, Math.min(r.returnedTotal, lease.receivedTotal));
      // Totals known before (seeded from the copies): the rise is a give-up nobody credited yet.
      if (known && !book.fenced) book.netGranted -= returned - lease.returnedTotal;
      lease.returnedTotal = returned;
    }
  }

  /** Units of the window still leasable. */
  available(key: string, windowId: number): number {
    checkWindowId(windowId);
    const spec = this.spec(key);
    if (!spec) return 0;
    const book = this.books.get(key)?.get(windowId);
    if (book) return availableIn(book, spec.limit);
    return this.isFenced(windowId, spec.windowMs) ? 0 : spec.limit;
  }

  /** Units of the window counted as granted: leased minus credited returns; in a fenced window, limit − pool. */
  grantedTotal(key: string, windowId: number): number {
    checkWindowId(windowId);
    const spec = this.spec(key);
    if (!spec) return 0;
    return Math.max(0, spec.limit - this.available(key, windowId));
  }

  /** Whether the window is fenced by a takeover (for metrics and tests). */
  fenced(key: string, windowId: number): boolean {
    checkWindowId(windowId);
    const book = this.books.get(key)?.get(windowId);
    if (book) return book.fenced;
    const spec = this.spec(key);
    return spec ? this.isFenced(windowId, spec.windowMs) : false;
  }

  /** Every lease with units still held, for metrics. */
  leasesOutstanding(): LeaseView[] {
    const out: LeaseView[] = [];
    for (const [key, windows] of this.books) {
      for (const [windowId, book] of windows) {
        for (const [node, l] of book.leases) {
          const heldUnits = l.receivedTotal - l.returnedTotal;
          if (heldUnits > 0) out.push({ node, key, windowId, heldUnits });
        }
      }
    }
    return out;
  }

  /** Drops windows that ended: no clock within the skew can lease from them again. */
  prune(now: number): void {
    const at = this.advance(now);
    for (const key of [...this.books.keys()]) this.pruneKey(key, at);
  }

  private pruneKey(key: string, at: number): void {
    const windows = this.books.get(key);
    if (!windows) return;
    for (const [windowId, book] of windows) {
      if (windowId < Math.floor((at - this.skewMs) / book.windowMs)) windows.delete(windowId);
    }
    if (windows.size === 0) this.books.delete(key);
  }

  // Time only moves forward here: a window dropped by prune must never be re-created as fresh.
  private advance(now: number): number {
    if (!Number.isFinite(now)) throw new InvalidArgumentError(`now must be finite epoch ms, got ${now}`);
    this.lastNow = Math.max(this.lastNow, now);
    return this.lastNow;
  }

  private accepts(windowId: number, windowMs: number, at: number, aheadMs: number): boolean {
    const ahead = Math.min(Math.max(0, aheadMs), aheadCap(windowMs));
    return windowId >= Math.floor((at - this.skewMs) / windowMs) && windowId <= Math.floor((at + this.skewMs + ahead) / windowMs);
  }

  // A predecessor leased only windows starting by its lease's end + skew + the lead a node may ask ahead.
  private isFenced(windowId: number, windowMs: number): boolean {
    return windowId * windowMs <= this.fenceUntilAt + aheadCap(windowMs) && windowId * windowMs < this.completeFromAt;
  }

  private bookFor(key: string, windowId: number, windowMs: number): WindowBook {
    let windows = this.books.get(key);
    if (!windows) this.books.set(key, (windows = new Map()));
    let book = windows.get(windowId);
    if (!book) {
      book = { windowMs, fenced: this.isFenced(windowId, windowMs), netGranted: 0, pool: 0, leases: new Map() };
      windows.set(windowId, book);
    }
    return book;
  }

  private spec(key: string): LimitSpec | undefined {
    const spec = this.specOf(key);
    if (spec === undefined) return undefined;
    if (!Number.isSafeInteger(spec.limit) || spec.limit < 0) {
      throw new InvalidArgumentError(`limit of ${key} must be a non-negative integer, got ${spec.limit}`);
    }
    if (!Number.isSafeInteger(spec.windowMs) || spec.windowMs < 1) {
      throw new InvalidArgumentError(`windowMs of ${key} must be an integer ≥ 1, got ${spec.windowMs}`);
    }
    return spec;
  }
}

const availableIn = (book: WindowBook, limit: number): number =>
  book.fenced ? book.pool : Math.max(0, limit - book.netGranted);

function leaseOf(book: WindowBook, node: string, baselineKnown: boolean): NodeLease {
  let lease = book.leases.get(node);
  if (!lease) book.leases.set(node, (lease = { receivedTotal: 0, returnedTotal: 0, baselineKnown }));
  return lease;
}

function checkNode(node: string): void {
  if (typeof node !== 'string' || node.length === 0) throw new InvalidArgumentError('node must be a non-empty id');
}

function checkWindowId(windowId: number): void {
  if (!Number.isSafeInteger(windowId)) throw new InvalidArgumentError(`windowId must be an integer, got ${windowId}`);
}

function checkUnits(name: string, units: number): void {
  if (!Number.isSafeInteger(units) || units < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${units}`);
}

// Copies of the strict holder's books, kept by every voter: per key, window and node, the running
// totals of units leased (received) and given back (returned). Totals only grow, so copies merge by
// taking the larger of each field — a state-based CRDT like the G-Counter: merging is idempotent,
// commutative and associative, and a late, repeated or reordered update changes nothing it should not.
// A successor merges the copies a quorum of voters sends with their votes and continues from there.
// Why that loses no grant: docs/strict-limits.md, "Books".
import { InvalidArgumentError } from '../errors.ts';
import { windowIdAt } from './windows.ts';

export interface BookEntry {
  /** `<target>/<limit>/<client key>`: one budget. */
  readonly key: string;
  readonly windowId: number;
  /** The limit and window length the holder accounted with. */
  readonly limit: number;
  readonly windowMs: number;
  readonly node: string;
  /** Units leased to `node` in this window so far, by any holder. */
  readonly received: number;
  /** Units `node` gave back in this window that a holder credited. */
  readonly returned: number;
}

const id = (e: Pick<BookEntry, 'key' | 'windowId' | 'node'>): string => `${e.key}\u0000${e.windowId}\u0000${e.node}`;

export class BookCopy {
  private readonly entries = new Map<string, BookEntry>();

  /** Takes the larger of each total; returns how many entries changed. */
  merge(entries: Iterable<BookEntry>): number {
    let changed = 0;
    for (const e of entries) {
      checkEntry(e);
      const k = id(e);
      const old = this.entries.get(k);
      if (old && old.received >= e.received && old.returned >= e.returned && old.limit <= e.limit) continue;
      this.entries.set(k, old
        ? { ...old, received: Math.max(old.received, e.received), returned: Math.max(old.returned, e.returned), limit: Math.min(old.limit, e.limit) }
        : { ...e });
      changed++;
    }
    return changed;
  }

  /** Every entry (a copy to send with a vote). */
  all(): BookEntry[] { return [...this.entries.values()]; }

  get size(): number { return this.entries.size; }

  /** Drops windows no clock within the skew can lease from or spend in any more. */
  prune(now: number, skewMs: number): void {
    for (const [k, e] of this.entries) if (e.windowId < windowIdAt(now - skewMs, e.windowMs) - 1) this.entries.delete(k);
  }
}

/** Merges several copies into one list (the larger of each total). */
export function mergeCopies(copies: Iterable<Iterable<BookEntry>>): BookEntry[] {
  const c = new BookCopy();
  for (const copy of copies) c.merge(copy);
  return c.all();
}

/**
 * From when the merged copies surely hold every grant a quorum acknowledged: a copy lacks what came
 * before its voter (re)started, so a window is complete only when a quorum of the copies come from
 * voters up since before it started (any acknowledging quorum then shares one of them with ours).
 * `upSince` is each copy's voter start, on our clock. Returns the epoch ms at or after which a window
 * start is complete (+Infinity when fewer than `quorum` copies).
 */
export function completeFrom(upSince: readonly number[], quorum: number, skewMs: number): number {
  if (!Number.isSafeInteger(quorum) || quorum < 1) throw new InvalidArgumentError(`quorum must be an integer ≥ 1, got ${quorum}`);
  if (upSince.length < quorum) return Number.POSITIVE_INFINITY;
  const sorted = [...upSince].sort((a, b) => a - b);
  return sorted[quorum - 1]! + skewMs;
}

/**
 * The same, from one bound per copy (the window start from which that copy is complete, by whichever
 * reason): a window is complete when a quorum of copies are; +Infinity with fewer than `quorum` copies.
 */
export function completeFromBounds(bounds: readonly number[], quorum: number): number {
  if (!Number.isSafeInteger(quorum) || quorum < 1) throw new InvalidArgumentError(`quorum must be an integer ≥ 1, got ${quorum}`);
  if (bounds.length < quorum) return Number.POSITIVE_INFINITY;
  return [...bounds].sort((a, b) => a - b)[quorum - 1]!;
}

/**
 * An entry's share of a JSON array (its text and a comma), as src/bus/message-parts.ts counts it,
 * without stringifying it: copies of many keys are measured at every vote and replication request.
 */
export function entryChars(e: BookEntry): number {
  // {"key":…,"windowId":…,"limit":…,"windowMs":…,"node":…,"received":…,"returned":…} and the comma.
  return 74 + jsonStringChars(e.key) + jsonStringChars(e.node) + digits(e.windowId) + digits(e.limit) + digits(e.windowMs) + digits(e.received) + digits(e.returned);
}
const digits = (n: number): number => String(n).length;
// Quotes, backslashes, control characters and lone surrogates are escaped; anything else is one character.
const jsonStringChars = (s: string): number => (/["\\\u0000-\u001f\ud800-\udfff]/.test(s) ? JSON.stringify(s).length : s.length + 2);

const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

export function checkEntry(e: BookEntry): void {
  if (typeof e.key !== 'string' || e.key === '' || typeof e.node !== 'string' || e.node === '' || !Number.isSafeInteger(e.windowId)
    || !count(e.limit) || !Number.isSafeInteger(e.windowMs) || e.windowMs < 1 || !count(e.received) || !count(e.returned) || e.returned > e.received) {
    throw new InvalidArgumentError(`bad book entry ${JSON.stringify(e)}`);
  }
}

/** Parses entries off the wire; undefined when any is malformed (the message is dropped and counted). */
export function parseEntries(d: unknown, max = 100_000): BookEntry[] | undefined {
  if (!Array.isArray(d) || d.length > max) return undefined;
  const out: BookEntry[] = [];
  for (const raw of d) {
    if (typeof raw !== 'object' || raw === null) return undefined;
    const o = raw as Record<string, unknown>;
    const e = { key: o.key, windowId: o.windowId, limit: o.limit, windowMs: o.windowMs, node: o.node, received: o.received, returned: o.returned } as BookEntry;
    try { checkEntry(e); } catch { return undefined; }
    out.push(e);
  }
  return out;
}

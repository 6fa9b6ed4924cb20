// A voter's copy of the strict books, on its way to a candidate. A copy that fits one message travels
// whole in the ballot, as it always did. A larger one (many client keys) is split by JSON size: the
// ballot carries the first part and the number of parts, the others follow on
// `singleton.copy.<candidate>`. The candidate counts a copy only once every part of that snapshot has arrived: a
// copy is safe to continue from only as the whole snapshot the voter took when it promised
// (src/actors/singleton.ts). A copy missing a part is never counted, which costs a fence (under-
// granting), never an over-grant. docs/strict-limits.md, "Books".
import type { Json } from '../bus/bus.ts';
import { splitByChars } from '../bus/message-parts.ts';
import { entryChars, parseEntries, type BookEntry } from '../limit/strict-books.ts';

/** Most parts one copy may have (256 × 256 KiB: 64 MiB of JSON); a voter with more sends no copy. */
export const MAX_COPY_PARTS = 256;
/** Most entries the candidate keeps for one copy in parts; past this the copy is dropped as malformed. */
export const MAX_COPY_ENTRIES = 1_000_000;
/** Snapshots kept per voter while their parts arrive (a repeated vote request makes a second one). */
const SNAPSHOTS_PER_VOTER = 2;
/** Voters whose parts are kept at once: more are dropped (the voter set is small; ids come off the wire). */
const MAX_VOTERS = 128;

/** One part message after the ballot's: which snapshot of which voter's copy, for which candidate and term. */
export interface CopyPart {
  voter: string; candidate: string; term: number;
  /** The snapshot's id, unique per voter process: parts of two snapshots never mix. */
  copy: string;
  /** 1 .. parts - 1 (the ballot carries part 0). */
  part: number; parts: number;
  entries: BookEntry[];
}

/** What a voter sends: the copy's fields for its ballot, and the other parts as messages. */
export interface OutgoingCopy { ballot: Record<string, Json>; rest: Json[] }

/**
 * Splits a voter's snapshot into a ballot's fields and part messages of at most `maxChars` of entries
 * each. A copy that fits one part goes whole in the ballot, with the same fields as ever; undefined when
 * even MAX_COPY_PARTS parts do not hold it (the vote then goes without a copy).
 */
export function outgoingCopy(entries: readonly BookEntry[], maxChars: number, id: Omit<CopyPart, 'part' | 'parts' | 'entries'>): OutgoingCopy | undefined {
  const parts = splitByChars(entries, maxChars, entryChars);
  if (parts.length > MAX_COPY_PARTS) return undefined;
  const json = (p: readonly BookEntry[]) => p as unknown as Json;
  if (parts.length === 1) return { ballot: { books: json(parts[0]!) }, rest: [] };
  return {
    ballot: { books: json(parts[0]!), parts: parts.length, copy: id.copy },
    rest: parts.slice(1).map((p, i) => ({ ...id, part: i + 1, parts: parts.length, entries: json(p) })),
  };
}

const isId = (v: unknown, max = 128): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isTerm = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isParts = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_COPY_PARTS;

/** A part message, or undefined when any field is malformed. */
export function parseCopyPart(d: Json): CopyPart | undefined {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
  const { voter, candidate, term, copy, part, parts } = d;
  if (!isId(voter) || !isId(candidate) || !isTerm(term) || !isId(copy, 64) || !isParts(parts) || parts < 2
    || !Number.isSafeInteger(part) || (part as number) < 1 || (part as number) >= parts) return undefined;
  const entries = parseEntries(d.entries);
  return entries && { voter, candidate, term, copy, part: part as number, parts, entries };
}

/** The ballot's part-count fields: `{ parts, copy }` (absent: one part), or undefined when malformed. */
export function parseBallotParts(o: Record<string, Json>): { parts: number; copy?: string } | undefined {
  if (o.parts === undefined) return o.copy === undefined ? { parts: 1 } : undefined;
  if (!isParts(o.parts)) return undefined;
  if (o.parts === 1) return o.copy === undefined ? { parts: 1 } : undefined;
  return isId(o.copy, 64) ? { parts: o.parts, copy: o.copy } : undefined;
}

interface Snapshot<M> {
  copy: string; parts: number; got: Map<number, BookEntry[]>; entries: number;
  /** What the ballot said of the voter; undefined until the ballot arrives. */
  meta: M | undefined;
  /** Whole and handed over, or dropped: later messages of this snapshot are ignored. */
  done: boolean;
}

/** What a message did: completed a copy, left one waiting for parts, was ignored, or was malformed. */
export type CopyOutcome<M> =
  | { type: 'whole'; voter: string; entries: BookEntry[]; meta: M }
  | { type: 'waiting' } | { type: 'ignored' } | { type: 'malformed' };

/**
 * The candidate's side: gathers the parts of its voters' copies for one term (the candidate's current
 * one) and hands a copy over only when whole. Parts and ballot may arrive in any order and twice.
 * Bounded: one term (reset drops the rest), two snapshots per voter, MAX_VOTERS voters, and
 * MAX_COPY_PARTS parts and MAX_COPY_ENTRIES entries per snapshot.
 */
export class CopyAssembler<M> {
  private term = 0;
  private readonly byVoter = new Map<string, Array<Snapshot<M>>>();

  /** Keeps parts of `term` only; a change of term drops everything held. */
  reset(term: number): void {
    if (term === this.term) return;
    this.term = term;
    this.byVoter.clear();
  }

  /** A ballot's copy: its first part, how many parts there are, and what the ballot says of the voter. */
  ballot(term: number, voter: string, shape: { parts: number; copy?: string }, entries: BookEntry[], meta: M): CopyOutcome<M> {
    if (shape.parts === 1) return { type: 'whole', voter, entries, meta };
    if (term !== this.term || shape.copy === undefined) return { type: 'ignored' };
    return this.add(voter, shape.copy, shape.parts, 0, entries, meta);
  }

  /** A part message (already parsed; the caller checked it is addressed to this candidate). */
  part(p: CopyPart): CopyOutcome<M> {
    if (p.term !== this.term) return { type: 'ignored' };
    return this.add(p.voter, p.copy, p.parts, p.part, p.entries, undefined);
  }

  /** Whether a ballot arrived whose copy still misses parts (they were sent with it: a few ms away). */
  waiting(): boolean {
    for (const list of this.byVoter.values()) for (const s of list) if (!s.done && s.meta !== undefined) return true;
    return false;
  }

  private add(voter: string, copy: string, parts: number, index: number, entries: BookEntry[], meta: M | undefined): CopyOutcome<M> {
    const s = this.snapshot(voter, copy, parts);
    if (!s) return { type: 'ignored' };
    if (s.done) return { type: 'ignored' };
    if (s.parts !== parts) return this.fail(s);
    if (meta !== undefined) s.meta = meta;
    if (!s.got.has(index)) {
      s.entries += entries.length;
      if (s.entries > MAX_COPY_ENTRIES) return this.fail(s);
      s.got.set(index, entries);
    }
    if (s.got.size < s.parts || s.meta === undefined) return { type: 'waiting' };
    const whole: BookEntry[] = [];
    for (let i = 0; i < s.parts; i++) for (const e of s.got.get(i)!) whole.push(e);
    const out: CopyOutcome<M> = { type: 'whole', voter, entries: whole, meta: s.meta };
    this.finish(s);
    return out;
  }

  private snapshot(voter: string, copy: string, parts: number): Snapshot<M> | undefined {
    let list = this.byVoter.get(voter);
    if (!list) {
      if (this.byVoter.size >= MAX_VOTERS) return undefined;
      this.byVoter.set(voter, (list = []));
    }
    const found = list.find((s) => s.copy === copy);
    if (found) return found;
    const s: Snapshot<M> = { copy, parts, got: new Map(), entries: 0, meta: undefined, done: false };
    list.push(s);
    if (list.length > SNAPSHOTS_PER_VOTER) list.shift();
    return s;
  }

  private finish(s: Snapshot<M>): void {
    s.done = true;
    s.got.clear();
    s.meta = undefined;
  }

  private fail(s: Snapshot<M>): CopyOutcome<M> {
    this.finish(s);
    return { type: 'malformed' };
  }
}

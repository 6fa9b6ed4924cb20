// The singleton's messages off the wire (votes, ballots, announcements, book pushes): each parser
// returns undefined for anything malformed, which the singleton drops and counts (never throws).
import type { Json } from '../bus/bus.ts';
import type { HolderAnnouncement, VoteReply, VoteRequest } from '../cluster/election-types.ts';

/**
 * Whole books a voter got in its present life: the latest holder's term, and the lowest window start
 * from which those books were complete (docs/strict-limits.md, "Books").
 */
export interface Synced { term: number; completeFrom: number }

/** Two whole-books bounds of one lineage: the latest term, and complete from the lower window start (either came after its start). */
export const mergeSynced = (a: Synced | undefined, b: Synced): Synced =>
  a ? { term: Math.max(a.term, b.term), completeFrom: Math.min(a.completeFrom, b.completeFrom) } : b;

/** A window bound on the wire: JSON has no -Infinity, so "every window" goes as null (parseSynced reads it back). */
export const boundToWire = (completeFrom: number): number | null => (Number.isFinite(completeFrom) ? completeFrom : null);

/** `{ term, completeFrom }` as parseSynced reads it. */
export const syncedToWire = (s: Synced): { term: number; completeFrom: number | null } => ({ term: s.term, completeFrom: boundToWire(s.completeFrom) });

export const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;
export const isTerm = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
export const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export function fields(d: Json): Record<string, Json> | undefined {
  return typeof d === 'object' && d !== null && !Array.isArray(d) ? d : undefined;
}

/** `{ term, completeFrom }` (completeFrom null: every window), or undefined. */
export function parseSynced(d: Json | undefined): Synced | undefined {
  const o = d === undefined ? undefined : fields(d);
  if (!o || !isTerm(o.term) || (o.completeFrom !== null && (typeof o.completeFrom !== 'number' || !Number.isFinite(o.completeFrom)))) return undefined;
  return { term: o.term, completeFrom: o.completeFrom === null ? Number.NEGATIVE_INFINITY : o.completeFrom };
}

export function parseVoteRequest(d: Json): VoteRequest | undefined {
  const o = fields(d);
  if (!o || !isId(o.candidate) || !isTerm(o.term) || !isCount(o.round) || (o.books !== undefined && typeof o.books !== 'boolean')) return undefined;
  return { candidate: o.candidate, term: o.term, round: o.round, ...(o.books ? { books: true } : {}) };
}

export function parseVoteReply(d: Json): VoteReply | undefined {
  const o = fields(d);
  if (!o || !isId(o.voter) || !isId(o.candidate) || !isTerm(o.term) || !isCount(o.round) || typeof o.granted !== 'boolean'
    || !isCount(o.highestTerm) || !isCount(o.priorTerm) || typeof o.priorEndsInMs !== 'number' || !Number.isFinite(o.priorEndsInMs)
    || typeof o.at !== 'number' || !Number.isFinite(o.at)) return undefined;
  return {
    voter: o.voter, candidate: o.candidate, term: o.term, round: o.round, granted: o.granted,
    highestTerm: o.highestTerm, priorTerm: o.priorTerm, priorEndsInMs: o.priorEndsInMs, at: o.at,
  };
}

export function parseAnnouncement(d: Json): HolderAnnouncement | undefined {
  const o = fields(d);
  if (!o || !isId(o.holder) || !isTerm(o.term) || typeof o.remainingMs !== 'number' || !(o.remainingMs >= 0) || o.remainingMs > 3_600_000) return undefined;
  return { holder: o.holder, term: o.term, remainingMs: o.remainingMs };
}

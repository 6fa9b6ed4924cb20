// A voter's side of the election: the promise its last vote made. It backs one candidate per term,
// no other candidate while the promise is live (leaseMs after the vote), and no term older than one
// it promised or whose holder's books it accepted: what it holds then stays in the copy any later
// winner collects. Pure: every method takes `now`.
import type { VoteRequest } from './election-types.ts';

/** A vote and what it replaced: the promise's term before it (0: none) and when that one ends, ms from now. */
export interface Ballot { readonly granted: boolean; readonly priorTerm: number; readonly priorEndsInMs: number }

export class VoterPromise {
  private candidate = '';
  private term = 0;
  private until = Number.NEGATIVE_INFINITY;
  /** Highest term whose holder's books this voter accepted: no vote for an older term after it. */
  private booksTerm = 0;

  constructor(private readonly leaseMs: number) {}

  /**
   * Votes for `req` unless `mayVote` is false (the caller's reasons: not a voter, in its grace) or the
   * rule forbids it; a granted vote is a new promise.
   */
  vote(req: VoteRequest, now: number, mayVote: boolean): Ballot {
    const priorTerm = this.term;
    const priorEndsInMs = this.term === 0 ? 0 : this.until - now;
    const refuse = !mayVote
      || req.term < this.term
      || req.term < this.booksTerm
      || (req.term === this.term && req.candidate !== this.candidate)
      || (this.until > now && req.candidate !== this.candidate);
    if (refuse) return { granted: false, priorTerm, priorEndsInMs };
    this.candidate = req.candidate;
    this.term = req.term;
    this.until = now + this.leaseMs;
    return { granted: true, priorTerm, priorEndsInMs };
  }

  /** Whether the holder of `term` may replicate its books here: refused for an older term, or this term promised to another. */
  acceptBooks(holder: string, term: number): boolean {
    if (term < this.term || term < this.booksTerm || (term === this.term && holder !== this.candidate)) return false;
    this.booksTerm = term;
    return true;
  }

  /** Whether a live promise binds this voter to someone other than `candidate`. */
  boundElsewhere(candidate: string, now: number): boolean { return this.until > now && this.candidate !== candidate; }

  /** Ends a promise made to `candidate` (for `term`, or any term) by `now`: it resigned, or it is us withdrawing. */
  release(candidate: string, now: number, term?: number): void {
    if (this.candidate === candidate && (term === undefined || this.term === term)) this.until = Math.min(this.until, now);
  }
}

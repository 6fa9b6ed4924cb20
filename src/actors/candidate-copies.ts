// The copies of the books a candidate collects with its votes, and what its holding starts from.
// Each voter sends its whole copy with its vote (in parts when large: ./singleton-copies.ts); the
// winner merges the copies of its term and learns from which window start they surely hold every
// grant a quorum acknowledged. Why that is safe: docs/strict-limits.md, "Books".
import { completeFromBounds, mergeCopies, type BookEntry } from '../limit/strict-books.ts';
import { CopyAssembler, type CopyOutcome, type CopyPart } from './singleton-copies.ts';
import type { Synced } from './singleton-messages.ts';

/** A voter's copy as the candidate got it: when the voter (re)started (our clock), and what whole books it got since. */
export interface Copy { entries: readonly BookEntry[]; upSince: number; synced?: Synced | undefined }
export type CopyMeta = Omit<Copy, 'entries'>;

/** What a holding starts from. */
export interface Merged {
  readonly seed: BookEntry[];
  /** Windows starting at or after this epoch ms are complete in `seed`. */
  readonly completeFromAt: number;
  /** How many voters' whole copies `seed` merges. */
  readonly copies: number;
}

export class CandidateCopies {
  private term = 0;
  private readonly byVoter = new Map<string, Copy>();
  /** Copies of `term` still arriving in parts. */
  private readonly parts = new CopyAssembler<CopyMeta>();

  /** Keeps a whole copy of `voter`'s for `term` (a new term forgets the older term's copies). */
  keep(term: number, voter: string, copy: Copy): void {
    if (this.term !== term) { this.term = term; this.byVoter.clear(); }
    this.parts.reset(term);
    this.byVoter.set(voter, copy);
  }

  /** A ballot's copy (whole, or its first part). */
  ballot(term: number, voter: string, shape: { parts: number; copy?: string }, entries: BookEntry[], meta: CopyMeta): CopyOutcome<CopyMeta>['type'] {
    return this.got(this.parts.ballot(term, voter, shape, entries, meta), term);
  }

  /** A later part of a copy. */
  part(p: CopyPart): CopyOutcome<CopyMeta>['type'] { return this.got(this.parts.part(p), p.term); }

  /** Whether copies of `term` are still arriving in parts. */
  waiting(term: number): boolean { return this.term === term && this.parts.waiting(); }

  /**
   * What a holding of `term` starts from: the merged copies, complete from where a quorum of them
   * are. A copy surely holds a window's grants if its voter was up since before the window began (+
   * skew), or if any holder sent it whole books, complete for the window, since it last started:
   * those came after every grant it acknowledged in an earlier life. With no predecessor nothing was
   * granted before: every window is complete.
   */
  merge(term: number, quorum: number, skewMs: number, predecessorKnown: boolean): Merged {
    const copies = this.term === term ? [...this.byVoter.values()] : [];
    const bound = (c: Copy) => Math.min(c.upSince + skewMs, c.synced?.completeFrom ?? Number.POSITIVE_INFINITY);
    return {
      seed: mergeCopies(copies.map((c) => c.entries)),
      completeFromAt: predecessorKnown ? completeFromBounds(copies.map(bound), quorum) : Number.NEGATIVE_INFINITY,
      copies: copies.length,
    };
  }

  private got(outcome: CopyOutcome<CopyMeta>, term: number): CopyOutcome<CopyMeta>['type'] {
    if (outcome.type === 'whole') this.keep(term, outcome.voter, { entries: outcome.entries, ...outcome.meta });
    return outcome.type;
  }
}

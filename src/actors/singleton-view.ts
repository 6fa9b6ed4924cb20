// What the strict limiter (its server on the holder, its clients on every node) needs from the
// cluster singleton: who holds, this node's holding, the books it starts from, and the channel that
// replicates them. Implemented by ./singleton.ts; tests substitute simpler ones.
import type { HolderSession, HolderView } from '../cluster/election-types.ts';
import type { BookCopy, BookEntry } from '../limit/strict-books.ts';

/** What the strict limiter's server and clients need from the singleton. */
export interface SingletonView {
  readonly nodeId: string;
  /** The holder as this node knows it, or undefined while none is known. */
  holder(): HolderView | undefined;
  /** This node's holding, while it holds. */
  session(): HolderSession | undefined;
  /** Called whenever holder() or session() may have changed. */
  onChange(fn: () => void): () => void;
  /** What this node's holding continues from: the merged copies of its quorum (absent: no books kept). */
  takeover?(): Takeover | undefined;
  /** The replication channel to the voters (absent: grants need no replication, e.g. a test singleton). */
  replication?(): Replication | undefined;
  /** This node's clock is surely off from a quorum's: it must not hold or grant. */
  clockSuspect?(): boolean;
}

/** The books a new holding starts from. */
export interface Takeover {
  readonly term: number;
  readonly seed: readonly BookEntry[];
  /** Windows starting at or after this epoch ms are complete in `seed` (src/limit/strict-books.ts). */
  readonly completeFromAt: number;
  /** How many voters' whole copies `seed` merges (this node's own included). */
  readonly copies: number;
}

/** What the holder's replicator needs: who votes, how many make a quorum, and this node's own copy. */
export interface Replication {
  readonly voters: () => readonly string[];
  readonly quorum: () => number;
  readonly selfVotes: boolean;
  readonly ownCopy: BookCopy;
  /** A voter refused our term: step down. */
  readonly stale: (term: number) => void;
  /** Largest list of entries in one message, JSON characters (default MAX_PART_CHARS). */
  readonly partChars?: number;
}

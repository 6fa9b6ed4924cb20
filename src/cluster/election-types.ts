// The election's messages and options: what candidates, voters and holders say to each other (the
// singleton actor carries them over the bus, src/actors/singleton.ts) and how an election is set up.
import { InvalidArgumentError } from '../errors.ts';

export interface ElectionOptions {
  /** Required. This node's id; ids order candidates (the lowest live one stands). */
  readonly self: string;
  /** Required. How long one vote binds its voter, ms. */
  readonly leaseMs: number;
  /** Required. A candidacy or renewal round every renewMs; must be under leaseMs / 2 to survive a lost round. */
  readonly renewMs: number;
  /**
   * Required. After start, ms during which this node neither stands nor votes (except to renew the
   * holder it hears announced). At least leaseMs: a restarted node forgot the promises it made.
   */
  readonly graceMs: number;
  /** Required. A member silent this long stops counting toward the quorum, ms. */
  readonly forgetAfterMs: number;
  /** Optional. The holder's lease ends this long before its voters' promises can, ms. Default leaseMs / 50, at least 1. */
  readonly driftMarginMs?: number;
  /** Required. Epoch ms this node started. */
  readonly startedAt: number;
  /**
   * Optional. The fixed voter set (cluster.voters): only these stand and vote, and a quorum is a
   * majority of them whoever is alive. Unset: every node votes, a quorum is a majority of the known members.
   */
  readonly voters?: readonly string[] | undefined;
  /** Optional. A vote whose voter's clock is surely further than this from ours does not count, ms. Default: no check. */
  readonly maxClockSkewMs?: number | undefined;
}

export interface VoteRequest {
  readonly candidate: string;
  readonly term: number;
  readonly round: number;
  /** The candidate has not won this term yet: voters send their copy of the books with the vote. */
  readonly books?: boolean;
}

export interface VoteReply {
  readonly voter: string;
  readonly candidate: string;
  readonly term: number;
  readonly round: number;
  readonly granted: boolean;
  /** Highest term this voter has seen: a candidate behind it gives up. */
  readonly highestTerm: number;
  /** The term the voter had promised before this vote (0: none): tells a winner it has a predecessor. */
  readonly priorTerm: number;
  /**
   * When that earlier promise ends or ended, ms from now (negative: ago). Durations, not clock
   * readings, so clocks need not agree: receipt time + this is a bound on when the predecessor's lease ended.
   */
  readonly priorEndsInMs: number;
  /** The voter's clock when it voted: with the round's send and receive times it bounds the clocks' difference. */
  readonly at: number;
}

export interface HolderAnnouncement { readonly holder: string; readonly term: number; readonly remainingMs: number }

export interface HolderView { readonly id: string; readonly term: number }

/** One holding of the lease by this node: its term, when it began, and whether anyone held before. */
export interface HolderSession {
  readonly term: number;
  readonly acquiredAt: number;
  readonly predecessorKnown: boolean;
  /**
   * With a predecessor: a time (this node's clock) by which the predecessor's lease had surely ended,
   * from the voters' reports; at most acquiredAt. Windows it may have leased from start before this.
   */
  readonly predecessorEndedBy?: number;
}

/** Options with their defaults filled in; throws naming the option at fault. */
export function checkedOptions(options: ElectionOptions): ElectionOptions & { readonly driftMarginMs: number } {
  const margin = options.driftMarginMs ?? Math.max(1, Math.floor(options.leaseMs / 50));
  if (typeof options.self !== 'string' || options.self === '') throw new InvalidArgumentError('self must be a non-empty id');
  for (const k of ['leaseMs', 'renewMs', 'graceMs', 'forgetAfterMs', 'startedAt'] as const) {
    if (!Number.isFinite(options[k]) || options[k] < 0) throw new InvalidArgumentError(`${k} must be a non-negative number, got ${options[k]}`);
  }
  if (!(options.leaseMs > 0) || !(options.renewMs > 0) || options.renewMs * 2 > options.leaseMs) {
    throw new InvalidArgumentError(`renewMs (${options.renewMs}) must be positive and at most leaseMs / 2 (${options.leaseMs})`);
  }
  if (!(margin > 0) || margin >= options.leaseMs - options.renewMs) {
    throw new InvalidArgumentError(`driftMarginMs must be positive and under leaseMs − renewMs, got ${margin}`);
  }
  const { voters } = options;
  if (voters !== undefined && (!Array.isArray(voters) || voters.length === 0 || voters.some((v) => typeof v !== 'string' || v === ''))) {
    throw new InvalidArgumentError('voters must be a non-empty list of node ids');
  }
  if (options.maxClockSkewMs !== undefined && !(options.maxClockSkewMs >= 0)) {
    throw new InvalidArgumentError(`maxClockSkewMs must be a non-negative number, got ${options.maxClockSkewMs}`);
  }
  return { ...options, driftMarginMs: margin };
}

// Decides which upstream replica takes the next call: the session's affinity replica while it can,
// else the least loaded (in flight + queued) of the replicas whose breaker admits calls and whose
// queue has room. Past a handful of replicas it compares two picked at random instead of all
// (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", 2001): nearly as even,
// and it does not send every caller that read the same stale loads to the same replica.

export interface ReplicaLoad {
  readonly id: string;
  /** Calls running on the replica now. */
  readonly inFlight: number;
  /** Calls waiting for one of its `concurrency` slots. */
  readonly queued: number;
  readonly concurrency: number;
  readonly queueCap: number;
  /** Its breaker is not open (a half-open breaker with no permit left refuses at acquire time). */
  readonly available: boolean;
}

export interface SelectOptions {
  /** Returns a number in [0, 1), like Math.random. */
  readonly random: () => number;
  /** The replica the session's affinity key is bound to, if any. */
  readonly affinityReplica?: string | undefined;
  /** Replicas not to choose, e.g. those a retry already failed on. */
  readonly exclude?: ReadonlySet<string> | readonly string[] | undefined;
}

/** Up to this many candidates are all compared; more use two random choices. */
export const FULL_SCAN_MAX = 4;

export const load = (r: ReplicaLoad): number => r.inFlight + r.queued;

/** The replica can take one more call: a free slot, or room in its queue. */
export const hasRoom = (r: ReplicaLoad): boolean => r.inFlight < r.concurrency || r.queued < r.queueCap;

/**
 * The chosen replica, or undefined when no replica is available and has room: the caller answers
 * 503 (BreakerOpenError when none is `available`, QueueFullError when all are full).
 */
export function selectReplica<R extends ReplicaLoad>(replicas: readonly R[], options: SelectOptions): R | undefined {
  const excluded = new Set(options.exclude ?? []);
  const candidates = replicas.filter((r) => r.available && !excluded.has(r.id) && hasRoom(r));
  if (candidates.length === 0) return undefined;
  if (options.affinityReplica !== undefined) {
    const bound = candidates.find((r) => r.id === options.affinityReplica);
    if (bound) return bound;
  }
  return candidates.length > FULL_SCAN_MAX ? twoChoices(candidates, options.random) : leastLoaded(candidates, options.random);
}

function leastLoaded<R extends ReplicaLoad>(candidates: readonly R[], random: () => number): R {
  const min = Math.min(...candidates.map(load));
  // Random among ties, so equal replicas share the work instead of the first taking it all.
  const ties = candidates.filter((r) => load(r) === min);
  return ties[pick(ties.length, random)]!;
}

function twoChoices<R extends ReplicaLoad>(candidates: readonly R[], random: () => number): R {
  const i = pick(candidates.length, random);
  let j = pick(candidates.length - 1, random);
  if (j >= i) j++; // two distinct replicas
  const a = candidates[i]!, b = candidates[j]!;
  return load(b) < load(a) ? b : a;
}

/** An index in [0, n), safe against a `random` that returns exactly 1. */
const pick = (n: number, random: () => number): number => Math.min(n - 1, Math.floor(random() * n));

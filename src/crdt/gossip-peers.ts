// Which peers get this round's gossip (the idea of Akka's DeltaPropagationSelector, kept apart from
// the sending so it can be tested). Deltas go to every node over one bus subject; this picks the few
// peers to ask for, or send, a full state for anti-entropy. Randomness is injected.
import { InvalidArgumentError } from '../errors.ts';
import type { NodeId } from './node-id.ts';

/** Returns `[0, 1)`, like Math.random; tests pass a seeded one. */
export type Random = () => number;

/**
 * Picks `count` distinct peers uniformly at random (a partial Fisher–Yates shuffle), or all of them
 * when there are fewer. `self` is never picked.
 */
export function selectPeers(peers: Iterable<NodeId>, self: NodeId, count: number, random: Random): NodeId[] {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError(`'count' must be a non-negative integer, got ${count}`);
  }
  const pool = [...new Set(peers)].filter((p) => p !== self);
  const k = Math.min(count, pool.length);
  for (let i = 0; i < k; i++) {
    // Clamp: a random() that returns exactly 1 must not index past the end.
    const j = i + Math.min(Math.floor(random() * (pool.length - i)), pool.length - i - 1);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

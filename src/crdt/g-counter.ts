// Grow-only counter (Shapiro et al., "A comprehensive study of CRDTs", 2011, §3.1.1; Akka's GCounter):
// one running total per node, and the value is their sum. Pure and immutable: no clock, no bus.
// The caller gossips the delta that `increment` returns and merges what peers send.
import { InvalidArgumentError } from '../errors.ts';
import { isNodeId, type NodeId } from './node-id.ts';
import { isCount, isPlainObject } from './wire.ts';

export type GCounter = ReadonlyMap<NodeId, number>;

/** The empty counter (Akka's `zero`): the identity of `merge`. */
export const zero: GCounter = new Map();

/**
 * Adds `by` to `node`'s entry. The delta holds the node's new total, not `by`, so a delta delivered
 * twice or out of order merges to the same state, and a later delta supersedes a lost one.
 */
export function increment(c: GCounter, node: NodeId, by = 1): { next: GCounter; delta: GCounter } {
  if (!Number.isSafeInteger(by) || by < 0) {
    throw new InvalidArgumentError(`'by' must be a non-negative safe integer, got ${by}`);
  }
  const total = (c.get(node) ?? 0) + by;
  if (!Number.isSafeInteger(total)) throw new InvalidArgumentError(`counter for ${node} would overflow`);
  const delta: GCounter = new Map([[node, total]]);
  return { next: merge(c, delta), delta };
}

/** Entry-wise maximum: commutative, associative and idempotent. Returns `a` itself when `b` adds nothing. */
export function merge(a: GCounter, b: GCounter): GCounter {
  let out: Map<NodeId, number> | undefined;
  for (const [node, n] of b) {
    if (n > (a.get(node) ?? 0) || (n === 0 && !a.has(node))) {
      out ??= new Map(a);
      out.set(node, n);
    }
  }
  return out ?? a;
}

export function value(c: GCounter): number {
  let sum = 0;
  for (const n of c.values()) sum += n;
  return sum;
}

/** What `node` alone has counted. */
export const valueAt = (c: GCounter, node: NodeId): number => c.get(node) ?? 0;

/** Wire form: `{ "<node id>": total }`. A plain object of numbers, so it is JSON-safe. */
export type EncodedGCounter = { [node: string]: number };

export function encode(c: GCounter): EncodedGCounter {
  // fromEntries defines own properties, so a node named "__proto__" stays an ordinary key.
  return Object.fromEntries(c);
}

/**
 * Reads a wire form back. Malformed input (not a plain object, an empty or over-long node id, a total
 * that is not a non-negative safe integer) yields `undefined` rather than a throw: gossip comes from
 * the network, and the caller drops and counts what it cannot read.
 */
export function decode(wire: unknown): GCounter | undefined {
  if (!isPlainObject(wire)) return undefined;
  const out = new Map<NodeId, number>();
  for (const [node, n] of Object.entries(wire)) {
    if (!isNodeId(node) || !isCount(n)) return undefined;
    out.set(node, n);
  }
  return out;
}

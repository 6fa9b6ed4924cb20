// Positive-negative counter (Shapiro et al. 2011, §3.1.2; Akka's PNCounter): two grow-only counters,
// one for increments and one for decrements; the value is their difference. Decrements are how a
// limiter refunds an over-estimate without ever un-merging a peer's entry.
import * as g from './g-counter.ts';
import type { NodeId } from './node-id.ts';
import { isPlainObject } from './wire.ts';

export interface PNCounter {
  readonly p: g.GCounter;
  readonly n: g.GCounter;
}

/** The empty counter (Akka's `zero`): the identity of `merge`. */
export const zero: PNCounter = { p: g.zero, n: g.zero };

/** Adds `by` for `node`. The delta carries only the grown side, holding the node's new total. */
export function increment(c: PNCounter, node: NodeId, by = 1): { next: PNCounter; delta: PNCounter } {
  const { next, delta } = g.increment(c.p, node, by);
  return { next: { p: next, n: c.n }, delta: { p: delta, n: g.zero } };
}

/** Subtracts `by` for `node`, by growing its decrement entry. */
export function decrement(c: PNCounter, node: NodeId, by = 1): { next: PNCounter; delta: PNCounter } {
  const { next, delta } = g.increment(c.n, node, by);
  return { next: { p: c.p, n: next }, delta: { p: g.zero, n: delta } };
}

/** Side-wise GCounter merge: commutative, associative and idempotent. Returns `a` when `b` adds nothing. */
export function merge(a: PNCounter, b: PNCounter): PNCounter {
  const p = g.merge(a.p, b.p);
  const n = g.merge(a.n, b.n);
  return p === a.p && n === a.n ? a : { p, n };
}

export const value = (c: PNCounter): number => g.value(c.p) - g.value(c.n);

/** `node`'s own net contribution: what it added minus what it took back. */
export const valueAt = (c: PNCounter, node: NodeId): number => g.valueAt(c.p, node) - g.valueAt(c.n, node);

export const isEmpty = (c: PNCounter): boolean => c.p.size === 0 && c.n.size === 0;

/** Wire form: `{ p: {node: total}, n?: {node: total} }`; `n` is left out while nothing was decremented. */
export type EncodedPNCounter = { p: g.EncodedGCounter; n?: g.EncodedGCounter };

export function encode(c: PNCounter): EncodedPNCounter {
  return c.n.size === 0 ? { p: g.encode(c.p) } : { p: g.encode(c.p), n: g.encode(c.n) };
}

/**
 * Decoded forms of frozen wire values. The in-process bus hands every receiver of a broadcast the same
 * frozen value, so in a 50-node simulation each full state would be read 49 times; a frozen value
 * cannot change, and a decoded counter is never modified (merge copies), so one reading serves all.
 */
const frozenDecoded = new WeakMap<object, PNCounter | null>();

/** Reads a wire form back; `undefined` for anything malformed (see g-counter's `decode`). Unknown fields are malformed too. */
export function decode(wire: unknown): PNCounter | undefined {
  if (!isPlainObject(wire)) return undefined;
  if (!Object.isFrozen(wire)) return decodeObject(wire);
  const known = frozenDecoded.get(wire);
  if (known !== undefined) return known ?? undefined;
  const decoded = decodeObject(wire);
  frozenDecoded.set(wire, decoded ?? null);
  return decoded;
}

function decodeObject(wire: Record<string, unknown>): PNCounter | undefined {
  for (const k of Object.keys(wire)) if (k !== 'p' && k !== 'n') return undefined;
  const p = g.decode(wire.p);
  const n = wire.n === undefined ? g.zero : g.decode(wire.n);
  return p && n ? { p, n } : undefined;
}

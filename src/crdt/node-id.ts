// The id a replica writes its own entries under. Branded so a client key or a limit name can never be
// passed where a node is meant: the counters would silently attribute spend to the wrong replica.
import { InvalidArgumentError } from '../errors.ts';

export type NodeId = string & { readonly __brand: 'NodeId' };

/** Longest id accepted, in UTF-16 code units: ids travel in every gossip entry. */
export const MAX_NODE_ID_LENGTH = 128;

export const isNodeId = (s: unknown): s is NodeId =>
  typeof s === 'string' && s.length > 0 && s.length <= MAX_NODE_ID_LENGTH;

/** Checks and brands `s`; throws InvalidArgumentError for an empty or over-long id. */
export function asNodeId(s: string): NodeId {
  if (!isNodeId(s)) {
    throw new InvalidArgumentError(`a node id must be 1 to ${MAX_NODE_ID_LENGTH} characters, got ${JSON.stringify(s)}`);
  }
  return s;
}

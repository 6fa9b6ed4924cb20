// What other folders may import from src/crdt. The two counters share the Akka verbs (increment,
// merge, value, zero, encode, decode), so each is exported as a namespace.
export * as gCounter from './g-counter.ts';
export * as pnCounter from './pn-counter.ts';
export { selectPeers } from './gossip-peers.ts';
export { asNodeId, isNodeId, MAX_NODE_ID_LENGTH } from './node-id.ts';
export { PeerHealth } from './peer-health.ts';

export type { EncodedGCounter, GCounter } from './g-counter.ts';
export type { Random } from './gossip-peers.ts';
export type { NodeId } from './node-id.ts';
export type { ClusterHealth } from './peer-health.ts';
export type { EncodedPNCounter, PNCounter } from './pn-counter.ts';

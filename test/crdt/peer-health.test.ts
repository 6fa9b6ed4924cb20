import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { asNodeId, type NodeId } from '../../src/crdt/node-id.ts';
import { PeerHealth } from '../../src/crdt/peer-health.ts';

const peerHealth = suite('peer health');

const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(asNodeId) as [NodeId, NodeId, NodeId, NodeId, NodeId];
const T = 1_000_000;

type Step =
  | { at: number; members: NodeId[] }
  | { at: number; heard: NodeId[] }
  | { at: number; left: NodeId }
  | { at: number; expect: { degraded: boolean; clusterSize: number; stale: NodeId[] } };

function play(steps: Step[]): void {
  const h = new PeerHealth(a, 500);
  for (const step of steps) {
    if ('members' in step) h.setMembers(step.members, step.at);
    else if ('heard' in step) for (const p of step.heard) h.heard(p, step.at);
    else if ('left' in step) h.peerLeft(step.left);
    else {
      const got = h.check(step.at);
      assert.equal({ degraded: got.degraded, clusterSize: got.clusterSize, stale: got.stalePeers }, step.expect, `at +${step.at - T}`);
    }
  }
}

peerHealth('a lone node that was never told of peers is healthy', () => {
  play([{ at: T, expect: { degraded: false, clusterSize: 1, stale: [] } }]);
});

peerHealth('a member is stale once silent for longer than staleMs, counted from its listing or its last message', () => {
  play([
    { at: T, members: [a, b, c] },
    { at: T + 500, expect: { degraded: false, clusterSize: 3, stale: [] } },
    { at: T + 501, expect: { degraded: true, clusterSize: 3, stale: [b, c] } },
    { at: T + 600, heard: [b, c] },
    { at: T + 1_100, expect: { degraded: false, clusterSize: 3, stale: [] } },
    { at: T + 1_101, expect: { degraded: true, clusterSize: 3, stale: [b, c] } },
  ]);
});

peerHealth('a node cut off from most of its cluster keeps dividing by the old size', () => {
  play([
    { at: T, members: [b, c, d, e] },
    { at: T + 100, heard: [b, c, d, e] },
    { at: T + 5_000, members: [b] }, // c, d, e declared dead; b still gossips
    { at: T + 5_000, heard: [b] },
    { at: T + 5_000, expect: { degraded: true, clusterSize: 5, stale: [] } },
    { at: T + 6_000, members: [] },
    { at: T + 6_000, expect: { degraded: true, clusterSize: 5, stale: [] } },
  ]);
});

peerHealth('a fresh majority shrinks the size after a crash, step by step', () => {
  play([
    { at: T, members: [b, c, d, e] },
    { at: T + 5_000, heard: [b, c, d] },
    { at: T + 5_000, members: [b, c, d] },
    { at: T + 5_000, expect: { degraded: false, clusterSize: 4, stale: [] } },
    { at: T + 5_100, heard: [b, c] },
    { at: T + 5_100, members: [b, c] },
    { at: T + 5_100, expect: { degraded: false, clusterSize: 3, stale: [] } },
  ]);
});

peerHealth('a graceful leave shrinks the cluster at once, even to a single node', () => {
  play([
    { at: T, members: [b] },
    { at: T + 100, left: b },
    { at: T + 10_000, expect: { degraded: false, clusterSize: 1, stale: [] } },
  ]);
});

peerHealth('a restarted peer listed again gets a fresh grace period', () => {
  play([
    { at: T, members: [b] },
    { at: T + 100, heard: [b] },
    { at: T + 5_000, members: [] },
    { at: T + 9_000, members: [b] },
    { at: T + 9_400, expect: { degraded: false, clusterSize: 2, stale: [] } },
  ]);
});

peerHealth.run();

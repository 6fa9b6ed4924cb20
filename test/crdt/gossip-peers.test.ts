import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { selectPeers } from '../../src/crdt/gossip-peers.ts';
import { asNodeId, type NodeId } from '../../src/crdt/node-id.ts';
import { ErrorCode } from '../../src/errors.ts';

const gossipPeers = suite('gossip peer selection');

const ids = (...xs: string[]): NodeId[] => xs.map(asNodeId);
const self = asNodeId('self');

gossipPeers('picks the requested number of distinct peers, never self', () => {
  fc.assert(fc.property(
    fc.array(fc.constantFrom(...ids('a', 'b', 'c', 'd', 'e', 'self')), { maxLength: 12 }),
    fc.nat(8),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }),
    (peers, count, draws) => {
      let i = 0;
      const picked = selectPeers(peers, self, count, () => draws[i++]!);
      const pool = new Set(peers.filter((p) => p !== self));
      assert.is(picked.length, Math.min(count, pool.size));
      assert.is(new Set(picked).size, picked.length);
      for (const p of picked) assert.ok(pool.has(p));
    },
  ), { numRuns: 1_000 });
});

gossipPeers('the injected random decides the choice', () => {
  const peers = ids('a', 'b', 'c', 'd');
  assert.equal(selectPeers(peers, self, 2, () => 0), ids('a', 'b'));
  assert.equal(selectPeers(peers, self, 2, () => 0.99), ids('d', 'a'));
});

gossipPeers('every peer is picked sometimes over many rounds', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const seen = new Map<NodeId, number>();
  const peers = ids('a', 'b', 'c', 'd', 'e', 'f');
  for (let round = 0; round < 600; round++) for (const p of selectPeers(peers, self, 2, random)) seen.set(p, (seen.get(p) ?? 0) + 1);
  for (const p of peers) assert.ok((seen.get(p) ?? 0) > 120, `${p} picked ${seen.get(p)} times`);
});

gossipPeers('rejects a negative or fractional count', () => {
  for (const count of [-1, 1.5]) {
    assert.throws(() => selectPeers(ids('a'), self, count, () => 0), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
  }
});

gossipPeers.run();

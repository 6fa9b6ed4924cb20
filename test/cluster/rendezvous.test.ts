// Rendezvous ownership (issue #10): every node that sees the same members agrees on a key's owner;
// a departure moves only the departed node's keys; a join moves only keys to the new node; keys
// spread evenly. The balance bound is computed here from the binomial spread, not taken from src.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ownerOf, ownerRing } from '../../src/cluster/rendezvous.ts';

const rv = suite('rendezvous ownership');

const nodeIds = fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 2, maxLength: 9 });
const keys = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 80 }), { minLength: 50, maxLength: 300 });

rv('the owner is a member, and the same whatever order the members are listed in', () => {
  fc.assert(fc.property(nodeIds, keys, (ids, ks) => {
    const a = ownerRing(ids);
    const b = ownerRing([...ids].reverse());
    for (const k of ks) {
      const o = ownerOf(a, k);
      assert.ok(o !== undefined && ids.includes(o));
      assert.is(ownerOf(b, k), o);
    }
  }));
});

rv('when a node leaves, only the keys it owned move', () => {
  fc.assert(fc.property(nodeIds, keys, fc.nat(), (ids, ks, pick) => {
    const gone = ids[pick % ids.length]!;
    const before = ownerRing(ids);
    const after = ownerRing(ids.filter((id) => id !== gone));
    for (const k of ks) {
      const was = ownerOf(before, k);
      if (was !== gone) assert.is(ownerOf(after, k), was, `key ${JSON.stringify(k)} moved off ${was}, which stayed`);
      else assert.is.not(ownerOf(after, k), gone);
    }
  }));
});

rv('when a node joins, keys move only to it', () => {
  fc.assert(fc.property(nodeIds, keys, (ids, ks) => {
    const [joiner, ...rest] = ids;
    const before = ownerRing(rest);
    const after = ownerRing(ids);
    for (const k of ks) {
      const now = ownerOf(after, k);
      if (now !== joiner) assert.is(now, ownerOf(before, k));
    }
  }));
});

rv('no members, no owner; one member owns everything', () => {
  assert.is(ownerOf(ownerRing([]), 'k'), undefined);
  assert.is(ownerOf(ownerRing(['solo']), 'k'), 'solo');
});

// Stated tolerance: with K keys over n nodes a node's share is Binomial(K, 1/n); every node stays
// within 5 standard deviations of K/n (a fair hash breaks that about once in 3 million per node).
rv('ownership is balanced within 5 standard deviations over 20 000 keys', () => {
  const K = 20_000;
  for (const n of [2, 3, 5, 8, 16]) {
    const ids = Array.from({ length: n }, (_, i) => `node-${i}`);
    const ring = ownerRing(ids);
    const counts = new Map(ids.map((id) => [id, 0]));
    // Keys shaped like real coalesce keys: JSON of method, path, query, headers.
    for (let i = 0; i < K; i++) {
      const key = JSON.stringify(['coalesce', 'GET', `/items/${i}`, '', [['authorization', null]], null]);
      const o = ownerOf(ring, key)!;
      counts.set(o, counts.get(o)! + 1);
    }
    const mean = K / n;
    const sd = Math.sqrt(K * (1 / n) * (1 - 1 / n));
    for (const [id, c] of counts) assert.ok(Math.abs(c - mean) <= 5 * sd, `n=${n}: ${id} owns ${c}, expected ${mean.toFixed(0)} ± ${(5 * sd).toFixed(0)}`);
  }
});

rv('random ids and keys are balanced too (property, 3 nodes, 3 000 keys, ±5 sd)', () => {
  fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,10}$/), { minLength: 3, maxLength: 3 }), fc.integer(), (ids, salt) => {
    const ring = ownerRing(ids);
    const counts = new Map(ids.map((id) => [id, 0]));
    const K = 3_000;
    for (let i = 0; i < K; i++) { const o = ownerOf(ring, `${salt}/${i}`)!; counts.set(o, counts.get(o)! + 1); }
    const sd = Math.sqrt(K * (1 / 3) * (2 / 3));
    for (const c of counts.values()) assert.ok(Math.abs(c - K / 3) <= 5 * sd, `${[...counts.values()]}`);
  }), { numRuns: 30 });
});

rv.run();

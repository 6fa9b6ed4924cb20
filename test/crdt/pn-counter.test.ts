import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as pn from '../../src/crdt/pn-counter.ts';
import { asNodeId, type NodeId } from '../../src/crdt/node-id.ts';

const pnCounter = suite('pn-counter');

const [a, b] = ['a', 'b'].map(asNodeId) as [NodeId, NodeId];
const sortedSide = (x: ReadonlyMap<NodeId, number>) => [...x].sort(([k1], [k2]) => (k1 < k2 ? -1 : 1));
const norm = (x: pn.PNCounter) => ({ p: sortedSide(x.p), n: sortedSide(x.n) });
const nodeArb = fc.constantFrom(...['a', 'b', 'c', 'd'].map(asNodeId));
const opArb = fc.record({ node: nodeArb, by: fc.nat(50), down: fc.boolean() });
const apply = (c: pn.PNCounter, op: { node: NodeId; by: number; down: boolean }) =>
  (op.down ? pn.decrement : pn.increment)(c, op.node, op.by);
const counterArb: fc.Arbitrary<pn.PNCounter> = fc
  .array(opArb, { maxLength: 8 })
  .map((ops) => ops.reduce((acc, op) => pn.merge(acc, apply(acc, op).delta), pn.zero));
const RUNS = { numRuns: 1_000 };

pnCounter('the value is increments minus decrements, across nodes', () => {
  let x = pn.increment(pn.zero, a, 10).next;
  x = pn.increment(x, b, 5).next;
  x = pn.decrement(x, a, 3).next;
  assert.is(pn.value(x), 12);
  assert.is(pn.valueAt(x, a), 7);
  assert.is(pn.valueAt(x, b), 5);
});

pnCounter('a decrement delta carries only the decrement side, with the new total', () => {
  const x = pn.decrement(pn.decrement(pn.increment(pn.zero, a, 10).next, a, 2).next, a, 3);
  assert.equal(norm(x.delta), { p: [], n: [['a', 5]] });
});

pnCounter('a refund delivered twice is taken back once', () => {
  const up = pn.increment(pn.zero, a, 10);
  const down = pn.decrement(up.next, a, 4);
  const replica = [up.delta, down.delta, down.delta, up.delta].reduce(pn.merge, pn.zero);
  assert.is(pn.value(replica), 6);
});

pnCounter('merge is commutative', () => {
  fc.assert(fc.property(counterArb, counterArb, (x, y) => {
    assert.equal(norm(pn.merge(x, y)), norm(pn.merge(y, x)));
  }), RUNS);
});

pnCounter('merge is associative', () => {
  fc.assert(fc.property(counterArb, counterArb, counterArb, (x, y, z) => {
    assert.equal(norm(pn.merge(pn.merge(x, y), z)), norm(pn.merge(x, pn.merge(y, z))));
  }), RUNS);
});

pnCounter('merge is idempotent and zero is its identity', () => {
  fc.assert(fc.property(counterArb, counterArb, (x, y) => {
    const xy = pn.merge(x, y);
    assert.equal(norm(pn.merge(xy, y)), norm(xy));
    assert.ok(pn.merge(x, x) === x);
    assert.equal(norm(pn.merge(pn.zero, x)), norm(x));
  }), RUNS);
});

pnCounter('deltas in any order, duplicated or lost, converge once full states are merged', () => {
  const deliveredOpArb = fc.record({
    op: opArb,
    toFirst: fc.array(fc.nat(10_000), { maxLength: 2 }),
    toSecond: fc.array(fc.nat(10_000), { maxLength: 2 }),
  });
  fc.assert(fc.property(fc.array(deliveredOpArb, { maxLength: 30 }), (ops) => {
    const replicas = new Map<NodeId, pn.PNCounter>();
    const first: [number, pn.PNCounter][] = [];
    const second: [number, pn.PNCounter][] = [];
    let expected = 0;
    for (const { op, toFirst, toSecond } of ops) {
      const { next, delta } = apply(replicas.get(op.node) ?? pn.zero, op);
      replicas.set(op.node, next);
      expected += op.down ? -op.by : op.by;
      for (const pr of toFirst) first.push([pr, delta]);
      for (const pr of toSecond) second.push([pr, delta]);
    }
    const deliver = (queue: [number, pn.PNCounter][]) =>
      queue.sort(([p1], [p2]) => p1 - p2).reduce((acc, [, d]) => pn.merge(acc, d), pn.zero);
    const states = [...replicas.values()];
    const x = states.reduce(pn.merge, deliver(first));
    const y = [...states].reverse().reduce(pn.merge, deliver(second));
    assert.is(pn.value(x), expected);
    assert.equal(norm(x), norm(y));
  }), { numRuns: 500 });
});

pnCounter('encode then decode gives the same counter, through JSON, leaving out an empty n', () => {
  fc.assert(fc.property(counterArb, (x) => {
    const wire = JSON.parse(JSON.stringify(pn.encode(x)));
    assert.is('n' in wire, x.n.size > 0);
    assert.equal(norm(pn.decode(wire)!), norm(x));
  }), RUNS);
});

pnCounter('decode answers undefined for malformed input instead of throwing', () => {
  const bad: unknown[] = [null, 1, [], {}, { n: {} }, { p: { a: -1 } }, { p: {}, n: { a: 'x' } }, { p: {}, extra: 1 }, { p: [] }];
  for (const wire of bad) assert.is(pn.decode(wire), undefined, JSON.stringify(wire));
  assert.is(pn.value(pn.decode({ p: { a: 3 }, n: { a: 1 } })!), 2);
});

pnCounter.run();

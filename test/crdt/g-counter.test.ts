import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as g from '../../src/crdt/g-counter.ts';
import { asNodeId, type NodeId } from '../../src/crdt/node-id.ts';
import { ErrorCode } from '../../src/errors.ts';

const gCounter = suite('g-counter');

const [a, b, c] = ['a', 'b', 'c'].map(asNodeId) as [NodeId, NodeId, NodeId];
const sorted = (x: g.GCounter): [string, number][] => [...x].sort(([k1], [k2]) => (k1 < k2 ? -1 : 1));
const nodeArb = fc.constantFrom(...['a', 'b', 'c', 'd', '__proto__'].map(asNodeId));
const counterArb: fc.Arbitrary<g.GCounter> = fc
  .array(fc.tuple(nodeArb, fc.nat(1_000)), { maxLength: 6 })
  .map((entries) => entries.reduce<g.GCounter>((acc, [n, v]) => g.merge(acc, new Map([[n, v]])), g.zero));
const RUNS = { numRuns: 1_000 };

gCounter('the value is the sum of every node total', () => {
  let x = g.increment(g.zero, a, 3).next;
  x = g.increment(x, b, 4).next;
  x = g.increment(x, a, 2).next;
  assert.is(g.value(x), 9);
  assert.is(g.valueAt(x, a), 5);
  assert.is(g.valueAt(x, c), 0);
});

gCounter('a delta holds the node new total, so a delta delivered twice is counted once', () => {
  const first = g.increment(g.zero, a, 3);
  const second = g.increment(first.next, a, 2);
  assert.equal(sorted(second.delta), [['a', 5]]);
  const replica = g.merge(g.merge(g.merge(g.zero, first.delta), second.delta), second.delta);
  assert.is(g.value(replica), 5);
});

gCounter('a later delta supersedes a lost one', () => {
  const first = g.increment(g.zero, a, 3);
  const second = g.increment(first.next, a, 2);
  assert.is(g.value(g.merge(g.zero, second.delta)), 5);
});

gCounter('increment rejects a negative, fractional or overflowing amount', () => {
  for (const by of [-1, 0.5, Number.NaN]) {
    try { g.increment(g.zero, a, by); assert.unreachable(); } catch (e) {
      assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument);
    }
  }
  const big = g.increment(g.zero, a, Number.MAX_SAFE_INTEGER).next;
  assert.throws(() => g.increment(big, a, 1), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
});

gCounter('merge returns its first argument when the second adds nothing', () => {
  const x = g.increment(g.zero, a, 3).next;
  assert.ok(g.merge(x, new Map([[a, 2]])) === x);
  assert.ok(g.merge(x, g.zero) === x);
});

gCounter('merge is commutative', () => {
  fc.assert(fc.property(counterArb, counterArb, (x, y) => {
    assert.equal(sorted(g.merge(x, y)), sorted(g.merge(y, x)));
  }), RUNS);
});

gCounter('merge is associative', () => {
  fc.assert(fc.property(counterArb, counterArb, counterArb, (x, y, z) => {
    assert.equal(sorted(g.merge(g.merge(x, y), z)), sorted(g.merge(x, g.merge(y, z))));
  }), RUNS);
});

gCounter('merge is idempotent and zero is its identity', () => {
  fc.assert(fc.property(counterArb, counterArb, (x, y) => {
    const xy = g.merge(x, y);
    assert.equal(sorted(g.merge(xy, y)), sorted(xy));
    assert.equal(sorted(g.merge(x, x)), sorted(x));
    assert.equal(sorted(g.merge(g.zero, x)), sorted(x));
  }), RUNS);
});

gCounter('deltas in any order, duplicated or lost, converge once full states are merged', () => {
  // Each op is applied at its node; each delta is delivered to two observers zero, one or two times,
  // in an order set by the generated priorities. A final full-state merge heals the losses.
  const opArb = fc.record({
    node: nodeArb,
    by: fc.nat(50),
    toFirst: fc.array(fc.nat(10_000), { maxLength: 2 }),
    toSecond: fc.array(fc.nat(10_000), { maxLength: 2 }),
  });
  fc.assert(fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
    const replicas = new Map<NodeId, g.GCounter>();
    const first: [number, g.GCounter][] = [];
    const second: [number, g.GCounter][] = [];
    let expected = 0;
    for (const op of ops) {
      const { next, delta } = g.increment(replicas.get(op.node) ?? g.zero, op.node, op.by);
      replicas.set(op.node, next);
      expected += op.by;
      for (const pr of op.toFirst) first.push([pr, delta]);
      for (const pr of op.toSecond) second.push([pr, delta]);
    }
    const deliver = (queue: [number, g.GCounter][]) =>
      queue.sort(([p1], [p2]) => p1 - p2).reduce((acc, [, d]) => g.merge(acc, d), g.zero);
    const x = deliver(first);
    const y = deliver(second);
    // Without anti-entropy an observer may lag, never run ahead.
    assert.ok(g.value(x) <= expected && g.value(y) <= expected);
    const states = [...replicas.values()];
    const healedX = states.reduce(g.merge, x);
    const healedY = [...states].reverse().reduce(g.merge, y);
    assert.is(g.value(healedX), expected);
    assert.equal(sorted(healedX), sorted(healedY));
  }), { numRuns: 500 });
});

gCounter('encode then decode gives the same counter, through JSON', () => {
  fc.assert(fc.property(counterArb, (x) => {
    const back = g.decode(JSON.parse(JSON.stringify(g.encode(x))));
    assert.ok(back);
    assert.equal(sorted(back), sorted(x));
  }), RUNS);
});

gCounter('a node named __proto__ is an ordinary entry on the wire', () => {
  const x = g.increment(g.zero, asNodeId('__proto__'), 2).next;
  const wire = JSON.parse(JSON.stringify(g.encode(x)));
  assert.is(g.value(g.decode(wire)!), 2);
  assert.is(Object.getPrototypeOf(g.encode(x)), Object.prototype);
});

gCounter('decode answers undefined for malformed input instead of throwing', () => {
  const bad: unknown[] = [
    null, undefined, 3, 'a', [], [['a', 1]], { a: -1 }, { a: 1.5 }, { a: '1' }, { a: null },
    { a: Number.MAX_SAFE_INTEGER + 1 }, { '': 1 }, { ['x'.repeat(129)]: 1 }, { a: 1, b: Infinity },
  ];
  for (const wire of bad) assert.is(g.decode(wire), undefined, JSON.stringify(wire));
  assert.equal(sorted(g.decode({})!), []);
});

gCounter.run();

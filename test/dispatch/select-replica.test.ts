import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { hasRoom, load, selectReplica } from '../../src/dispatch/select-replica.ts';
import type { ReplicaLoad } from '../../src/dispatch/select-replica.ts';

const replica = (id: string, inFlight: number, over: Partial<ReplicaLoad> = {}): ReplicaLoad =>
  ({ id, inFlight, queued: 0, concurrency: 4, queueCap: 2, available: true, ...over });

/** A random source that replays `values` and then repeats the last. */
const seq = (...values: number[]) => { let i = 0; return () => values[Math.min(i++, values.length - 1)]!; };

const select = suite('selectReplica');

select('picks the least loaded, counting queued calls as load', () => {
  const rs = [replica('a', 3), replica('b', 4, { queued: 1 }), replica('c', 2)];
  assert.is(selectReplica(rs, { random: () => 0 })?.id, 'c');
  assert.is(selectReplica([replica('a', 1), replica('b', 0, { queued: 2 })], { random: () => 0 })?.id, 'a');
});

select('shares ties at random instead of always taking the first', () => {
  const rs = [replica('a', 1), replica('b', 1), replica('c', 2)];
  assert.is(selectReplica(rs, { random: () => 0 })?.id, 'a');
  assert.is(selectReplica(rs, { random: () => 0.99 })?.id, 'b');
});

select('skips replicas whose breaker is open, that are excluded, or whose queue is full', () => {
  const rs = [replica('open', 0, { available: false }), replica('tried', 0), replica('full', 4, { queued: 2 }), replica('busy', 3)];
  assert.is(selectReplica(rs, { random: () => 0, exclude: ['tried'] })?.id, 'busy');
  assert.is(selectReplica(rs, { random: () => 0, exclude: new Set(['tried']) })?.id, 'busy');
});

select('a replica whose slots are taken still takes calls while its queue has room', () => {
  assert.is(selectReplica([replica('a', 4, { queued: 1 })], { random: () => 0 })?.id, 'a');
});

select('answers undefined when every available queue is full or none is available', () => {
  assert.is(selectReplica([replica('a', 4, { queued: 2 }), replica('b', 0, { available: false })], { random: () => 0 }), undefined);
  assert.is(selectReplica([], { random: () => 0 }), undefined);
});

select('affinity wins over load while its replica is available and has room', () => {
  const rs = [replica('a', 0), replica('b', 4, { queued: 1 })];
  assert.is(selectReplica(rs, { random: () => 0, affinityReplica: 'b' })?.id, 'b');
  assert.is(selectReplica([replica('a', 0), replica('b', 4, { queued: 2 })], { random: () => 0, affinityReplica: 'b' })?.id, 'a', 'queue full');
  assert.is(selectReplica([replica('a', 0), replica('b', 0, { available: false })], { random: () => 0, affinityReplica: 'b' })?.id, 'a', 'breaker open');
  assert.is(selectReplica(rs, { random: () => 0, affinityReplica: 'gone' })?.id, 'a', 'unknown replica');
});

select('with more than four replicas it compares two distinct ones picked at random', () => {
  const rs = [replica('r0', 0), replica('r1', 3), replica('r2', 2), replica('r3', 1), replica('r4', 3)];
  // First draw: r1 (load 3). Second draw, over the four others: index 1 → r2 (load 2).
  assert.is(selectReplica(rs, { random: seq(0.3, 0.3) })?.id, 'r2');
  // First draw: r4. Second: index 3 of the others → r3, the lighter of the two.
  assert.is(selectReplica(rs, { random: seq(0.9, 0.9) })?.id, 'r3');
  // r0 is the least loaded of all, but only the two drawn (r1, r3) are compared.
  assert.is(selectReplica(rs, { random: seq(0.3, 0.5) })?.id, 'r3');
});

select('never picks a replica that cannot take the call, and finds one whenever one can', () => {
  const arb = fc.array(fc.record({
    inFlight: fc.nat(5), queued: fc.nat(3), concurrency: fc.integer({ min: 1, max: 5 }), queueCap: fc.nat(3), available: fc.boolean(),
  }), { maxLength: 12 }).map((xs) => xs.map((x, i) => ({ id: `r${i}`, ...x })));
  fc.assert(fc.property(arb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.nat(12), (rs, r, aff) => {
    const chosen = selectReplica(rs, { random: () => r, affinityReplica: `r${aff}`, exclude: ['r0'] });
    const eligible = rs.filter((x) => x.available && x.id !== 'r0' && hasRoom(x));
    if (eligible.length === 0) return chosen === undefined;
    if (!chosen || !eligible.includes(chosen)) return false;
    const bound = eligible.find((x) => x.id === `r${aff}`);
    if (bound) return chosen === bound;
    // Full scan: the least loaded. Two choices: never the most loaded of several distinct loads.
    if (eligible.length <= 4) return load(chosen) === Math.min(...eligible.map(load));
    return eligible.some((x) => load(x) >= load(chosen));
  }), { numRuns: 2_000 });
});

select('two random choices spread calls evenly over many equal replicas', () => {
  let x = 7;
  const lcg = () => { x = (x * 1_103_515_245 + 12_345) % 2 ** 31; return x / 2 ** 31; };
  const rs = Array.from({ length: 10 }, (_, i) => replica(`r${i}`, 0, { concurrency: 1_000, queueCap: 0 }));
  for (let i = 0; i < 1_000; i++) {
    const c = selectReplica(rs, { random: lcg })!;
    rs[rs.indexOf(c)] = { ...c, inFlight: c.inFlight + 1 };
  }
  const loads = rs.map(load);
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 3, loads.join());
});

select.run();

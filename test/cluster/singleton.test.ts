import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork, type LocalBus, type NetworkFaults } from '../../src/bus/local-bus.ts';
import { Membership } from '../../src/actors/membership.ts';
import { Singleton, singletonTimings } from '../../src/actors/singleton.ts';
import { strictSuccessorWithinMs } from '../support/documented-bounds.ts';
import { seeded } from '../../src/random.ts';

const singleton = suite('singleton actor over LocalBus');

const CLUSTER = { heartbeatMs: 100, deadAfterMs: 500 };
const TIMINGS = singletonTimings(CLUSTER);

interface SimNode { id: string; bus: LocalBus; membership: Membership; singleton: Singleton; alive: boolean }

function cluster(n: number, faults: NetworkFaults = {}) {
  const clock = new VirtualClock(1_000_000);
  const network = new LocalNetwork(clock, faults);
  const nodes: SimNode[] = Array.from({ length: n }, (_, i) => {
    const id = `n${String(i).padStart(2, '0')}`;
    const bus = network.connect(id);
    const membership = new Membership(bus, clock, { nodeId: id, cluster: 'c', ...CLUSTER });
    const s = new Singleton(bus, clock, membership, { nodeId: id, cluster: 'c', ...TIMINGS });
    return { id, bus, membership, singleton: s, alive: true };
  });
  for (const node of nodes) { node.membership.start(); node.singleton.start(); }
  const holders = () => nodes.filter((x) => x.alive && x.singleton.session()).map((x) => x.id);
  /** Advances 1 ms at a time, checking that no two nodes ever hold at once. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t++) {
      clock.advance(1);
      const h = holders();
      assert.ok(h.length <= 1, `two holders at ${clock.now()}: ${h.join(', ')}`);
    }
  };
  const crash = async (node: SimNode) => {
    node.alive = false;
    await node.bus.close(); // nothing it sends from now on leaves the process
    node.singleton.stop();
    node.membership.stop();
  };
  return { clock, network, nodes, holders, run, crash };
}

singleton('after the grace exactly one node holds, the lowest id, and every node knows it', () => {
  const c = cluster(3);
  c.run(TIMINGS.graceMs - 1);
  assert.equal(c.holders(), [], 'nobody stands during the grace');
  c.run(TIMINGS.renewMs + 20);
  assert.equal(c.holders(), ['n00']);
  for (const x of c.nodes) assert.equal(x.singleton.holder(), { id: 'n00', term: 1 }, x.id);
  c.run(5_000);
  assert.equal(c.holders(), ['n00'], 'renewals keep it');
  for (const x of c.nodes) assert.is(x.singleton.changes, 1, x.id);
});

singleton('a crashed holder is replaced within leaseMs + 2 renewMs, by the next lowest id', async () => {
  const c = cluster(3);
  c.run(1_000);
  await c.crash(c.nodes[0]!);
  const crashedAt = c.clock.now();
  let successorAt = 0;
  for (let t = 0; t < 3_000 && !successorAt; t++) {
    c.run(1);
    if (c.holders().length) successorAt = c.clock.now();
  }
  assert.equal(c.holders(), ['n01']);
  assert.ok(successorAt - crashedAt <= strictSuccessorWithinMs(CLUSTER.heartbeatMs), `took ${successorAt - crashedAt} ms`);
  c.run(20);
  assert.equal(c.nodes[2]!.singleton.holder(), { id: 'n01', term: 2 });
  assert.equal(c.nodes[1]!.singleton.session()?.predecessorKnown, true);
});

singleton('a holder partitioned away loses its lease before the majority elects a successor; healing keeps one', () => {
  const c = cluster(5);
  c.run(1_000);
  c.network.partition([['n00'], ['n01', 'n02', 'n03', 'n04']]);
  c.run(TIMINGS.leaseMs);
  assert.not.ok(c.nodes[0]!.singleton.session(), 'the minority side cannot renew');
  c.run(2 * TIMINGS.renewMs + 50);
  assert.equal(c.holders(), ['n01']);
  c.run(2_000);
  assert.equal(c.holders(), ['n01'], 'alone, n00 keeps standing and keeps failing');
  c.network.heal();
  c.run(1_000);
  assert.equal(c.holders(), ['n01']);
  assert.equal(c.nodes[0]!.singleton.holder(), { id: 'n01', term: c.nodes[1]!.singleton.session()!.term });
});

singleton('an even split elects nobody: neither side is a majority', () => {
  const c = cluster(4);
  c.run(1_000);
  c.network.partition([['n00', 'n01'], ['n02', 'n03']]);
  c.run(TIMINGS.leaseMs + 50);
  assert.equal(c.holders(), []);
  c.run(3_000);
  assert.equal(c.holders(), []);
  c.network.heal();
  c.run(2_000);
  assert.is(c.holders().length, 1);
});

singleton('a graceful stop resigns: the successor holds without waiting out the lease', () => {
  const c = cluster(3);
  c.run(1_000);
  c.nodes[0]!.alive = false;
  c.nodes[0]!.singleton.stop();
  c.nodes[0]!.membership.stop();
  c.run(TIMINGS.renewMs + 10);
  assert.equal(c.holders(), ['n01']);
});

singleton('with 20% loss, delays, crashes and partitions, never two holders; a holder returns once healed', async () => {
  for (const seed of [1, 2, 3]) {
    const random = seeded(seed);
    const c = cluster(7, { dropRate: 0.2, random, delayMs: () => 1 + Math.floor(random() * 15) });
    c.run(1_000);
    for (let step = 0; step < 6; step++) {
      const alive = c.nodes.filter((x) => x.alive);
      const r = random();
      if (r < 0.3 && alive.length > 5) await c.crash(alive[Math.floor(random() * alive.length)]!);
      else if (r < 0.7) {
        const cut = alive.filter(() => random() < 0.4).map((x) => x.id);
        c.network.partition([cut, c.nodes.map((x) => x.id).filter((id) => !cut.includes(id))]);
      } else c.network.heal();
      c.run(300 + Math.floor(random() * 700));
    }
    c.network.heal();
    c.run(2_000);
    assert.is(c.holders().length, 1, `seed ${seed}: a holder once healed`);
    const h = c.holders()[0];
    for (const x of c.nodes.filter((y) => y.alive)) assert.is(x.singleton.holder()?.id, h, `seed ${seed}: ${x.id} knows it`);
  }
});

singleton('malformed election messages are dropped and counted', () => {
  const c = cluster(1);
  const rogue = c.network.connect('rogue');
  rogue.publish('sluice.c.singleton.vote', { candidate: 7 });
  rogue.publish('sluice.c.singleton.holder', { holder: 'x', term: -1, remainingMs: 5 });
  rogue.publish('sluice.c.singleton.ballot.n00', 'yes');
  c.run(1);
  assert.is(c.nodes[0]!.singleton.malformed, 3);
});

singleton.run();

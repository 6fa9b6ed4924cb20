// Strict limits whose books outlive the holder (issue #12), checked by an oracle apart from the code
// (./strict-oracle.ts): calls counted at a sink by the true window they land in, every request
// answered once, one node granting at a time, requests at both edges of every window.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { StrictWorld, T0 } from './strict-oracle.ts';

const books = suite('strict books across failover, partitions and clocks', { timeoutMs: 180_000 });

const LIMIT = 20;
const W = 1_000;
const spec = { nodes: ['a', 'b', 'c'], limit: LIMIT, windowMs: W, rate: 15 };

async function elected(world: StrictWorld): Promise<string> {
  await world.runUntil(() => world.holders().length === 1, 5_000);
  return world.holders()[0]!;
}

books('a holder crashing mid-window: the successor continues the window (≥ 0.9 L, ≤ L at the upstream) within 5 heartbeats', async () => {
  const world = new StrictWorld({ ...spec, limit: 40, rate: 25 });
  const holder = await elected(world);
  const first = world.startLoad(6);
  await world.run((first + 2) * W + 150 - world.base.now());
  world.crash(holder);
  const crashedAt = world.base.now();
  // The successor's first grant: counted from the grants it answers, within leaseMs + 2 renewals.
  await world.runUntil(() => world.grants.some((g) => g.at > crashedAt && g.holder !== holder), 5 * 100 + 50);
  await world.run(world.loadEndsAt + W - world.base.now());
  world.checkInvariants('crash');
  const used = Array.from({ length: 6 }, (_, i) => world.calls(first + i));
  assert.ok(used[2]! >= 0.9 * 40, `the failover window used ${used[2]} of 40 (${used})`);
  for (const [i, n] of used.entries()) assert.ok(n >= 0.9 * 40, `window ${i} used ${n} (${used})`);
  await world.stop();
});

for (const [label, partitionMs] of [['1 s', 1_000], ['30 s', 30_000], ['10 min', 600_000]] as const) {
  books(`a partition of ${label} isolating the holder: no over-grant anywhere, one granter at a time, one holder after the heal`, async () => {
    const world = new StrictWorld({ ...spec, rate: partitionMs > 60_000 ? 8 : 12 });
    const holder = await elected(world);
    const windows = Math.ceil(partitionMs / W) + 4;
    const first = world.startLoad(windows);
    await world.run(first * W + 1_300 - world.base.now());
    const rest = world.nodes.filter((n) => n.id !== holder).map((n) => n.id);
    world.network.partition([[holder], rest]);
    let minorityGranted = 0;
    const before = world.grants.length;
    await world.run(partitionMs, () => { if (world.node(holder).singleton.session()) minorityGranted = world.grants.slice(before).filter((g) => g.holder === holder && g.at > world.base.now() - 1).length; });
    assert.is(world.grants.slice(before).filter((g) => g.holder === holder && g.at > T0 + (first * W + 1_300 - T0) + 400).length, 0, 'the isolated holder granted nothing after its lease ran out');
    void minorityGranted;
    world.network.heal();
    await world.run(world.loadEndsAt + W - world.base.now());
    world.checkInvariants(`partition ${label}`);
    assert.is(world.holders().length, 1, 'one holder after the heal');
    await world.stop();
  });

  books(`a partition of ${label} isolating a minority (not the holder): the minority never grants, no over-grant`, async () => {
    const world = new StrictWorld({ ...spec, rate: partitionMs > 60_000 ? 8 : 12 });
    const holder = await elected(world);
    const minority = world.nodes.find((n) => n.id !== holder)!.id;
    const windows = Math.ceil(partitionMs / W) + 4;
    const first = world.startLoad(windows);
    await world.run(first * W + 1_300 - world.base.now());
    world.network.partition([[minority], world.nodes.filter((n) => n.id !== minority).map((n) => n.id)]);
    const before = world.grants.length;
    await world.run(partitionMs);
    assert.is(world.grants.slice(before).filter((g) => g.holder === minority).length, 0, 'the minority granted');
    world.network.heal();
    await world.run(world.loadEndsAt + W - world.base.now());
    world.checkInvariants(`minority ${label}`);
    assert.is(world.holders().length, 1);
    await world.stop();
  });
}

books.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import { Membership } from '../../src/actors/membership.ts';
import { MemberTable } from '../../src/cluster/member-table.ts';

const table = suite('member table');

table('a heartbeat joins a node; silence past deadAfterMs drops it', () => {
  const t = new MemberTable('a', 5_000);
  assert.equal(t.heartbeat('b', 1, 0), { type: 'member.joined', id: 'b' });
  assert.is(t.heartbeat('b', 1, 1_000), undefined);
  assert.equal(t.expire(6_000), []);
  assert.equal(t.expire(6_001), [{ type: 'member.left', id: 'b', reason: 'silent', silentMs: 5_001 }], 'says how long it was silent');
  assert.equal(t.liveIds(), ['a']);
});

table('a heartbeat from an earlier life of a restarted node is ignored', () => {
  const t = new MemberTable('a', 5_000);
  t.heartbeat('b', 100, 0);
  assert.is(t.heartbeat('b', 50, 10), undefined);
  assert.is(t.goodbye('b', 50), undefined, 'an old goodbye does not remove the new life');
  assert.equal(t.liveIds(), ['a', 'b']);
});

const membership = suite('membership actor over LocalBus');

function cluster(names: string[], faults = {}) {
  const clock = new VirtualClock(1_000_000);
  const network = new LocalNetwork(clock, faults);
  const nodes = names.map((n) => new Membership(network.connect(n), clock, { nodeId: n, cluster: 'c', heartbeatMs: 1_000, deadAfterMs: 3_500 }));
  return { clock, network, nodes };
}

membership('nodes see each other within one heartbeat and agree on the sorted live set', () => {
  const { clock, nodes } = cluster(['c', 'a', 'b']);
  nodes.forEach((n) => n.start());
  clock.advance(1_000);
  for (const n of nodes) assert.equal(n.liveIds(), ['a', 'b', 'c']);
});

membership('a graceful leave is seen at once; a crashed node is dropped after deadAfterMs', async () => {
  const { clock, network, nodes } = cluster(['a', 'b', 'c']);
  nodes.forEach((n) => n.start());
  clock.advance(1_000);
  const left: string[] = [];
  nodes[0]!.onChange((c) => { if (c.type === 'member.left') left.push(`${c.id}:${c.reason}`); });
  nodes[1]!.stop();
  clock.advance(0);
  assert.equal(left, ['b:goodbye']);
  // c crashes: no goodbye, it just goes quiet (its endpoint is cut off).
  network.partition([['a', 'b'], ['c']]);
  clock.advance(3_000);
  assert.equal(nodes[0]!.liveIds(), ['a', 'c'], 'not yet: within deadAfterMs');
  clock.advance(2_000);
  assert.equal(nodes[0]!.liveIds(), ['a']);
  assert.equal(left, ['b:goodbye', 'c:silent']);
});

membership('a lost heartbeat is healed by the next one', () => {
  let drop = true;
  const { clock, nodes } = cluster(['a', 'b'], { dropRate: 1, random: () => (drop ? 0 : 1) });
  nodes.forEach((n) => n.start());
  clock.advance(500);
  assert.equal(nodes[0]!.liveIds(), ['a']);
  drop = false;
  clock.advance(1_000);
  assert.equal(nodes[0]!.liveIds(), ['a', 'b']);
});

membership('malformed heartbeats are dropped and counted', () => {
  const { clock, network, nodes } = cluster(['a']);
  nodes[0]!.start();
  const rogue = network.connect('rogue');
  rogue.publish('sluice.c.members.heartbeat', { node: 42 });
  rogue.publish('sluice.c.members.heartbeat', 'hello');
  rogue.publish('sluice.c.members.goodbye', { node: 'x' });
  clock.advance(0);
  assert.is(nodes[0]!.malformed, 3);
  assert.equal(nodes[0]!.liveIds(), ['a']);
});

table.run();
membership.run();

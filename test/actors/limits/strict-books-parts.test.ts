// Strict books of many client keys: a voter's copy is larger than one bus message, as NATS's
// max_payload (1 MiB) would refuse. Copies go with votes in parts and replication requests by size,
// so a failover still elects a successor that continues the window. Oracle: ./strict-oracle.ts.
// Issue #12.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { StrictWorld } from './strict-oracle.ts';

const parts = suite('strict books larger than one bus message', { timeoutMs: 180_000 });

const W = 1_000;
const LIMIT = 40;
/** The network's largest message, scaled down with the part budget (NATS: 1 MiB, parts 256 KiB). */
const MAX_PAYLOAD = 32 * 1024;

parts('a holder crashing mid-window with copies of several messages: the successor holds within 5 heartbeats and continues the window', async () => {
  const world = new StrictWorld({
    nodes: ['a', 'b', 'c'], limit: LIMIT, windowMs: W, rate: 25, predictWindowMs: 100,
    clientKeys: 200, maxPayloadChars: MAX_PAYLOAD, partChars: MAX_PAYLOAD / 4,
  });
  await world.runUntil(() => world.holders().length === 1, 10_000);
  const holder = world.holders()[0]!;
  const first = world.startLoad(6);
  await world.run((first + 2) * W + 150 - world.base.now());
  const survivors = world.nodes.filter((n) => n.id !== holder);
  for (const n of survivors) {
    const chars = JSON.stringify(n.singleton.books.all()).length;
    assert.ok(chars > MAX_PAYLOAD, `${n.id}'s copy is ${chars} characters, more than one message`);
  }
  world.crash(holder);
  const crashedAt = world.base.now();
  const waited = await world.runUntil(() => world.grants.some((g) => g.at > crashedAt && g.holder !== holder), 5 * world.heartbeatMs + 50);
  const successor = world.holders()[0]!;
  await world.run(world.loadEndsAt + W - world.base.now());
  world.checkInvariants('crash with large copies');
  const used = Array.from({ length: 6 }, (_, i) => world.calls(first + i));
  console.log(`large copies: successor granted ${waited} ms after the crash; failover window used ${used[2]} of ${LIMIT} (${used})`);
  assert.ok(used[2]! >= 0.9 * LIMIT, `the failover window used ${used[2]} of ${LIMIT} (${used}): fenced`);
  for (const [i, n] of used.entries()) assert.ok(n >= 0.9 * LIMIT, `window ${i} used ${n} (${used})`);
  assert.ok(world.node(successor).singleton.malformed === 0, 'no part was malformed');
  assert.is(world.network.oversized, 0, 'no message was larger than the network takes');
  await world.stop();
});

parts.run();

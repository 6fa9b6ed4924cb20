// The gossip actor and approximate enforcers of several nodes over one LocalNetwork, on a VirtualClock:
// convergence, one message per interval, anti-entropy, joining mid-window, degraded modes.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import type { Json } from '../../../src/bus/bus.ts';
import { windowEndAt, windowIdAt } from '../../../src/limit/windows.ts';
import { TARGET_KEY } from '../../../src/actors/limits/limit-key.ts';
import { LimitGossip, MAX_GOSSIP_CHARS, splitLimits } from '../../../src/actors/limits/gossip.ts';
import { ApproximateLimiter } from '../../../src/limit/approximate-limiter.ts';
import { asNodeId } from '../../../src/crdt/node-id.ts';
import { H_DEGRADED } from '../../../src/actors/limits/answer-headers.ts';
import { SimCluster, tryCall, type Stack } from './sim-support.ts';

const gossip = suite('limit gossip actor');

const WINDOW_MS = 60_000;
/** A start time early in a window, so a test never crosses into the next one by accident. */
const START = windowEndAt(windowIdAt(1_700_000_000_000, WINDOW_MS), WINDOW_MS) + 10;

const target = (limit: number, extra: Record<string, unknown> = {}) =>
  ({ name: 'llm', limits: [{ name: 'rpm', limit, windowMs: WINDOW_MS, ...extra }] });

function cluster(ids: string[], limit = 100, extra: Record<string, unknown> = {}, opts: ConstructorParameters<typeof SimCluster>[0] = {}) {
  const c = new SimCluster({ startAt: START, random: () => 0.5, ...opts });
  const stacks = ids.map((id) => c.add(id, target(limit, extra)));
  stacks.forEach((s) => s.start());
  c.clock.advance(400); // heartbeats heard, first full-state round done
  return { c, stacks };
}

const limiterOf = (s: Stack) => s.gossip.limiters().get('llm/rpm')!;

async function spend(s: Stack, n: number): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(await tryCall(s.limits));
  return out;
}

gossip('every node sees the spend of every other within one sync interval and the bus delay', async () => {
  const { c, stacks } = cluster(['a', 'b', 'c'], 100, {}, { faults: { delayMs: () => 5 } });
  await spend(stacks[0]!, 3);
  await spend(stacks[1]!, 4);
  await spend(stacks[2]!, 5);
  c.clock.advance(c.cluster.syncMs + 5);
  for (const s of stacks) assert.is(limiterOf(s).spent(TARGET_KEY, c.clock.now()), 12, s.id);
});

gossip('publishes one message per node per sync interval, carrying every limit of every target', async () => {
  const c = new SimCluster({ startAt: START, random: () => 0.5 });
  const a = c.add('a', { name: 'llm', limits: [{ name: 'rpm', limit: 10_000, windowMs: WINDOW_MS }, { name: 'per-ip', per: 'ip', limit: 10_000, windowMs: WINDOW_MS }] });
  const seen: Json[] = [];
  c.network.connect('spy').subscribe('sluice.sim.limits.gossip', (m) => seen.push(m.data));
  a.start();
  const second = new (await import('../../../src/actors/limits/target-limits.ts')).ConfiguredLimits(
    (await import('../../../src/config/load.ts')).parseTarget({ name: 'search', prefix: '/s', replicas: ['http://127.0.0.1:1'], limits: [{ name: 'rpm', limit: 10, windowMs: WINDOW_MS }] }),
    a.deps, { gossip: a.gossip });
  c.clock.advance(200); // alone: the catch-up wait ends without a peer
  const sentBefore = a.gossip.stats.sent;
  const seenBefore = seen.length;
  for (let t = 0; t < 1_000; t += 5) {
    await spend(a, 3);
    c.clock.advance(5);
  }
  const intervals = 1_000 / c.cluster.syncMs;
  const sent = a.gossip.stats.sent - sentBefore;
  assert.ok(sent >= intervals - 1 && sent <= intervals + 1, `sent ${sent} for 600 requests`);
  assert.is(seen.length - seenBefore, sent);
  const last = seen.at(-1) as { limits: Record<string, unknown> };
  assert.equal(Object.keys(last.limits).sort(), ['llm/per-ip', 'llm/rpm', 'search/rpm']);
  await second.close();
});

gossip('deltas lost in a partition are healed by the next full state, even if the node spends nothing more', async () => {
  const { c, stacks } = cluster(['a', 'b'], 100, {}, { fullStateEveryMs: 200 });
  const [a, b] = stacks as [Stack, Stack];
  c.network.partition([['a'], ['b']]);
  await spend(a, 10);
  c.clock.advance(100);
  assert.is(limiterOf(b).spent(TARGET_KEY, c.clock.now()), 0, 'the deltas were lost');
  c.network.heal();
  c.clock.advance(220);
  assert.is(limiterOf(b).spent(TARGET_KEY, c.clock.now()), 10);
});

gossip('a node joining mid-window catches up from full state before it admits, so it refuses what the cluster spent', async () => {
  const { c, stacks } = cluster(['a', 'b'], 10);
  await spend(stacks[0]!, 5);
  await spend(stacks[1]!, 3);
  c.clock.advance(50);
  const n = c.add('n', target(10));
  n.start();
  const first = tryCall(n.limits);
  let settled = false;
  void first.then(() => { settled = true; });
  await Promise.resolve();
  assert.not.ok(settled, 'the first decision waits for the cluster state');
  c.clock.advance(2 * c.cluster.syncMs + 1);
  await new Promise(setImmediate); // lets the settled promise chain run
  assert.ok(settled, 'a peer answered with full state well before the catch-up deadline');
  assert.ok(await first);
  assert.equal(await spend(n, 2), [true, false]);
  assert.is(limiterOf(n).spent(TARGET_KEY, c.clock.now()), 10);
});

gossip('without catching up, a newcomer counts from zero and over-admits (what the wait prevents)', async () => {
  const { c, stacks } = cluster(['a', 'b'], 10, {}, { catchUpMs: 0 });
  await spend(stacks[0]!, 8);
  c.clock.advance(50);
  const n = c.add('n', target(10));
  n.start();
  assert.equal(await spend(n, 3), [true, true, true]);
});

gossip('a node cut off from its peers admits only its safe share and marks its answers degraded', async () => {
  const { c, stacks } = cluster(['a', 'b', 'c'], 30);
  const a = stacks[0]!;
  c.network.partition([['a'], ['b', 'c']]);
  c.clock.advance(5 * c.cluster.syncMs + 50);
  const admission = await a.limits.admitUpstreamCall({ requests: 1, tokens: 0 });
  assert.is(admission.headers[H_DEGRADED], 'rpm');
  assert.equal((await spend(a, 10)).filter(Boolean).length, 9, '30 / 3 = 10 in all');
  c.clock.advance(3_000); // membership drops the silent peers: still alone, still a third
  assert.ok(limiterOf(a).health(c.clock.now()).degraded);
  assert.is(limiterOf(a).health(c.clock.now()).clusterSize, 3);
});

gossip('fail-closed refuses everything while degraded; fail-open trusts its partial view', async () => {
  const closed = cluster(['a', 'b'], 30, { degraded: 'fail-closed' });
  closed.c.network.partition([['a'], ['b']]);
  closed.c.clock.advance(200);
  assert.equal(await spend(closed.stacks[0]!, 1), [false]);
  const open = cluster(['a', 'b'], 30, { degraded: 'fail-open' });
  open.c.network.partition([['a'], ['b']]);
  open.c.clock.advance(200);
  assert.is((await spend(open.stacks[0]!, 31)).filter(Boolean).length, 30);
});

gossip('a peer that leaves gracefully shrinks the cluster without degrading the rest', async () => {
  const { c, stacks } = cluster(['a', 'b', 'c'], 30);
  await stacks[2]!.stop();
  c.clock.advance(1_000);
  const h = limiterOf(stacks[0]!).health(c.clock.now());
  assert.not.ok(h.degraded);
  assert.is(h.clusterSize, 2);
});

gossip('a peer without the limit still proves itself alive, so the limit is not degraded', async () => {
  const c = new SimCluster({ startAt: START, random: () => 0.5 });
  const a = c.add('a', target(10));
  const plain = c.add('p', { name: 'llm', limits: [] });
  a.start();
  plain.start();
  c.clock.advance(1_000);
  assert.is(a.membership.liveIds().length, 2);
  assert.not.ok(limiterOf(a).health(c.clock.now()).degraded);
});

gossip('malformed gossip and payloads for another window length are dropped and counted', async () => {
  const { c, stacks } = cluster(['a', 'b'], 10);
  const a = stacks[0]!;
  const rogue = c.network.connect('rogue');
  const before = a.gossip.stats.dropped;
  rogue.publish('sluice.sim.limits.gossip', { hello: 'there' });
  rogue.publish('sluice.sim.limits.gossip', { node: 'b', kind: 'delta', limits: { 'llm/rpm': { limit: 'rpm', windowMs: 1_000, windows: {} } } });
  c.clock.advance(1);
  assert.is(a.gossip.stats.dropped, before + 2);
  assert.equal(await spend(a, 1), [true], 'requests are unaffected');
});

gossip('a limit whose settings change keeps this node\'s counts of the window', async () => {
  const { c, stacks } = cluster(['a'], 10);
  const a = stacks[0]!;
  await spend(a, 4);
  const g: LimitGossip = a.gossip;
  const lease = g.acquire('llm/rpm', { name: 'rpm', limit: 20, windowMs: WINDOW_MS, staleMs: 100 });
  assert.is(lease.limiter.limit, 20);
  assert.is(lease.limiter.spent(TARGET_KEY, c.clock.now()), 4);
  lease.release();
});

gossip('a full state too large for one message goes out in parts that together carry every key', async () => {
  const { c, stacks } = cluster(['a', 'b'], 5, { per: 'ip' });
  const [a, b] = stacks as [Stack, Stack];
  const sent = a.gossip.stats.sent;
  const ctx = (ip: string) => ({ clientIp: ip, req: { headers: {} }, clientGone: new AbortController().signal }) as never;
  for (let i = 0; i < 6_000; i++) await a.limits.admitRequest(ctx(`10.0.${i >> 8}.${i & 255}`), { requests: 1, tokens: 0 });
  c.network.partition([['a'], ['b']]); // the deltas are lost: only full state can tell b
  c.clock.advance(c.cluster.syncMs);
  c.network.heal();
  c.clock.advance(1_000);
  const now = c.clock.now();
  for (const i of [0, 2_999, 5_999]) assert.is(limiterOf(b).spent(`ip:10.0.${i >> 8}.${i & 255}`, now), 1);
  assert.ok(a.gossip.stats.fullSent > 0 && a.gossip.stats.sent - sent > 1_000 / c.cluster.syncMs, 'some intervals took more than one message');
});

gossip('splitting packs small payloads into one message and cuts a large one by key, losing nothing', () => {
  const l = new ApproximateLimiter({ nodeId: asNodeId('a'), name: 'rpm', limit: 1e6, windowMs: 1_000, staleMs: 100 });
  for (let i = 0; i < 500; i++) l.admit(`ip:${i}`, 1, 5_000);
  const small = { x: { limit: 'x', windowMs: 1, windows: {} } };
  assert.is(splitLimits({ ...small, y: { ...small.x, limit: 'y' } }, MAX_GOSSIP_CHARS).length, 1);
  const parts = splitLimits({ big: l.fullState(5_000), ...small }, 2_000);
  assert.ok(parts.length > 5);
  for (const p of parts) assert.ok(JSON.stringify(p).length <= 2_200, 'each part near the cap');
  const copy = new ApproximateLimiter({ nodeId: asNodeId('b'), name: 'rpm', limit: 1e6, windowMs: 1_000, staleMs: 100 });
  for (const p of parts) if (p.big) copy.mergeRemote(asNodeId('a'), JSON.parse(JSON.stringify(p.big)), 5_000);
  for (let i = 0; i < 500; i++) assert.is(copy.spent(`ip:${i}`, 5_000), 1);
  assert.ok(parts.some((p) => p.x));
});

gossip.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import type { Json } from '../../src/bus/bus.ts';
import { asNodeId, type NodeId } from '../../src/crdt/node-id.ts';
import { ErrorCode } from '../../src/errors.ts';
import {
  ApproximateLimiter, type ApproximateLimitInput, defaultStaleMs, overAdmissionBound,
} from '../../src/limit/approximate-limiter.ts';

const limiter = suite('approximate limiter');

const T = 1_700_000_040_000; // a window boundary for 1 s and 60 s windows
const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(asNodeId) as [NodeId, NodeId, NodeId, NodeId, NodeId];
const make = (over: Partial<ApproximateLimitInput> = {}) =>
  new ApproximateLimiter({ nodeId: a, name: 'rpm', limit: 3, windowMs: 1_000, staleMs: 500, ...over });
/** A peer limiter whose gossip the tests deliver by hand. */
const peer = (nodeId: NodeId, over: Partial<ApproximateLimitInput> = {}) => make({ nodeId, ...over });
const isInvalid = (err: unknown) => (err as { code?: string }).code === ErrorCode.InvalidArgument;

limiter('decides each request from the window spend: (now, key, cost) → decision', () => {
  const l = make();
  const table: [now: number, key: string, cost: number, want: { allowed: boolean; remaining: number; resetAt: number; retryAfterMs: number }][] = [
    [T, 'k', 1, { allowed: true, remaining: 2, resetAt: T + 1_000, retryAfterMs: 0 }],
    [T + 10, 'k', 2, { allowed: true, remaining: 0, resetAt: T + 1_000, retryAfterMs: 0 }],
    [T + 20, 'k', 1, { allowed: false, remaining: 0, resetAt: T + 1_000, retryAfterMs: 980 }],
    [T + 20, 'other', 1, { allowed: true, remaining: 2, resetAt: T + 1_000, retryAfterMs: 0 }],
    [T + 999, 'k', 0, { allowed: false, remaining: 0, resetAt: T + 1_000, retryAfterMs: 1 }],
    [T + 1_000, 'k', 3, { allowed: true, remaining: 0, resetAt: T + 2_000, retryAfterMs: 0 }],
    [T + 1_001, 'k', 1, { allowed: false, remaining: 0, resetAt: T + 2_000, retryAfterMs: 999 }],
    [T + 2_500, 'k', 0, { allowed: true, remaining: 3, resetAt: T + 3_000, retryAfterMs: 0 }],
  ];
  for (const [now, key, cost, want] of table) {
    const got = l.admit(key, cost, now);
    const { allowed, remaining, resetAt, retryAfterMs } = got;
    assert.equal({ allowed, remaining, resetAt, retryAfterMs }, want, `at +${now - T} ${key} cost ${cost}`);
    assert.is(got.wouldLimit, !want.allowed);
    assert.is(got.degraded, false);
    assert.is(got.limitName, 'rpm');
    assert.is(got.limit, 3);
    assert.is(got.windowId, Math.floor(now / 1_000));
  }
});

limiter('a request that would cross the limit is refused whole; a smaller one still fits', () => {
  const l = make({ limit: 10 });
  assert.ok(l.admit('k', 8, T).allowed);
  const big = l.admit('k', 3, T);
  assert.equal([big.allowed, big.remaining], [false, 2]);
  assert.ok(l.admit('k', 2, T).allowed);
  assert.is(l.spent('k', T), 10);
});

limiter('a cost larger than the whole limit is never admitted', () => {
  assert.is(make({ limit: 3 }).admit('k', 4, T).allowed, false);
});

limiter('admission counts what peers spent in the window, not only local spend', () => {
  const l = make({ limit: 10 });
  const p = peer(b, { limit: 10 });
  for (let i = 0; i < 8; i++) assert.ok(p.admit('k', 1, T + i).allowed);
  l.mergeRemote(b, p.takeDelta(T + 10), T + 12);
  assert.is(l.spent('k', T + 12), 8);
  assert.equal(l.admit('k', 3, T + 12).allowed, false);
  assert.equal(l.admit('k', 2, T + 13).allowed, true);
  p.mergeRemote(a, l.takeDelta(T + 20), T + 21);
  assert.is(p.admit('k', 1, T + 22).allowed, false);
});

limiter('a peer spend in the previous window does not count against the current one', () => {
  const l = make();
  const p = peer(b);
  p.admit('k', 3, T + 990);
  l.mergeRemote(b, p.takeDelta(T + 999), T + 1_005);
  assert.ok(l.admit('k', 3, T + 1_005).allowed);
});

limiter('peek decides without counting', () => {
  const l = make();
  for (let i = 0; i < 5; i++) assert.ok(l.peek('k', 3, T).allowed);
  assert.is(l.spent('k', T), 0);
});

limiter('shadow mode allows everything, counts it, and reports what enforcing would refuse', () => {
  const l = make({ enforce: false });
  const table: [cost: number, wouldLimit: boolean][] = [[2, false], [1, false], [1, true], [5, true]];
  for (const [cost, wouldLimit] of table) {
    const got = l.admit('k', cost, T);
    assert.equal([got.allowed, got.wouldLimit, got.retryAfterMs], [true, wouldLimit, 0]);
  }
  assert.is(l.spent('k', T), 9);
});

limiter('reconcile refunds an over-estimate, so the refunded units can be spent again', () => {
  const l = make({ limit: 100 });
  const first = l.admit('k', 80, T);
  assert.is(l.admit('k', 30, T + 1).allowed, false);
  assert.is(l.reconcile('k', first.windowId, 80, 50, T + 2), -30);
  assert.is(l.spent('k', T + 2), 50);
  assert.ok(l.admit('k', 30, T + 3).allowed);
});

limiter('reconcile charges usage above the estimate even past the limit', () => {
  const l = make({ limit: 100 });
  const first = l.admit('k', 90, T);
  assert.is(l.reconcile('k', first.windowId, 90, 120, T + 5), 30);
  assert.is(l.spent('k', T + 5), 120);
  assert.equal([l.admit('k', 1, T + 6).allowed, l.admit('k', 1, T + 6).remaining], [false, 0]);
});

limiter('a refund never takes back what another node counted', () => {
  const l = make({ limit: 100 });
  const p = peer(b, { limit: 100 });
  p.admit('k', 60, T);
  l.mergeRemote(b, p.takeDelta(T), T + 1);
  const mine = l.admit('k', 10, T + 2);
  assert.is(l.reconcile('k', mine.windowId, 50, 0, T + 3), -10);
  assert.is(l.spent('k', T + 3), 60);
  // And the refund travels as a delta that peers apply once.
  const delta = l.takeDelta(T + 4);
  p.mergeRemote(a, delta, T + 5);
  p.mergeRemote(a, delta, T + 6);
  assert.is(p.spent('k', T + 6), 60);
});

limiter('a reconcile for the previous window still applies; an older one is dropped and counted', () => {
  const l = make({ limit: 10 });
  const first = l.admit('k', 5, T);
  assert.is(l.reconcile('k', first.windowId, 5, 2, T + 1_500), -3);
  const second = l.admit('k', 5, T + 1_500);
  assert.is(l.reconcile('k', second.windowId, 5, 9, T + 3_000), 0);
  assert.is(l.stats.lateReconciles, 1);
});

limiter('takeDelta sends each change once, and an empty delta when nothing changed', () => {
  const l = make();
  l.admit('k', 2, T);
  const delta: Json = l.takeDelta(T + 1); // JSON-safe by type
  assert.equal(delta, { limit: 'rpm', windowMs: 1_000, windows: { [T / 1_000]: { k: { p: { a: 2 } } } } });
  assert.equal(l.takeDelta(T + 2), { limit: 'rpm', windowMs: 1_000, windows: {} });
});

limiter('a full state heals deltas that were lost', () => {
  const l = make({ limit: 10 });
  const p = peer(b, { limit: 10 });
  p.admit('k', 4, T);
  p.takeDelta(T); // lost
  p.admit('k', 1, T + 1);
  l.mergeRemote(b, p.takeDelta(T + 1), T + 2);
  assert.is(l.spent('k', T + 2), 5, 'the later delta carries the total');
  p.admit('x', 1, T + 3);
  p.takeDelta(T + 3); // lost
  l.mergeRemote(b, JSON.parse(JSON.stringify(p.fullState(T + 4))), T + 5);
  assert.is(l.spent('x', T + 5), 1);
});

limiter('gossip for another limit or window length is refused whole and is not proof of life', () => {
  const l = make();
  l.setMembers([a, b], T);
  const report = l.mergeRemote(b, { limit: 'rpm', windowMs: 60_000, windows: { [T / 60_000]: { k: { p: { b: 3 } } } } }, T + 100);
  assert.equal(report, { accepted: false, counters: 0, malformed: 1, outOfRange: 0 });
  assert.is(l.mergeRemote(b, { limit: 'tpm', windowMs: 1_000, windows: {} }, T + 100).accepted, false);
  assert.is(l.mergeRemote(b, 'garbage', T + 100).accepted, false);
  assert.is(l.heardAt(b), undefined);
  assert.is(l.health(T + 501).degraded, true);
  assert.is(l.stats.malformed, 3);
});

limiter('unreadable parts of gossip are counted and the rest is merged', () => {
  const l = make({ limit: 10 });
  const w = String(T / 1_000);
  const report = l.mergeRemote(b, { limit: 'rpm', windowMs: 1_000, windows: { [w]: { k: { p: { b: 4 } }, j: { p: { b: 'x' } } } } }, T);
  assert.equal(report, { accepted: true, counters: 1, malformed: 1, outOfRange: 0 });
  assert.is(l.spent('k', T), 4);
  assert.is(l.heardAt(b), T);
  assert.equal(l.stats, { mergedCounters: 1, malformed: 1, outOfRange: 0, lateReconciles: 0 });
});

limiter('its own gossip echoed back by the bus is ignored', () => {
  const l = make();
  l.admit('k', 1, T);
  assert.is(l.mergeRemote(a, l.fullState(T), T).accepted, false);
  assert.is(l.heardAt(a), undefined);
  assert.is(l.stats.malformed, 0);
});

limiter('a node alone, never told of peers, is not degraded', () => {
  const got = make().admit('k', 1, T + 1_000_000);
  assert.equal([got.allowed, got.degraded], [true, false]);
});

limiter('a member silent for longer than staleMs makes the node degraded until it is heard again', () => {
  const l = make({ limit: 100, degraded: 'fail-closed' });
  l.setMembers([a, b, c], T);
  const table: [now: number, heardFrom: NodeId[], degraded: boolean][] = [
    [T + 500, [], false], // listed at T: a newcomer gets staleMs of grace
    [T + 501, [], true],
    [T + 600, [b], true],
    [T + 700, [b, c], false],
    [T + 1_200, [], false],
    [T + 1_201, [], true],
  ];
  for (const [now, heardFrom, degraded] of table) {
    for (const p of heardFrom) l.mergeRemote(p, peer(p, { limit: 100 }).takeDelta(now), now);
    const got = l.admit('k', 1, now);
    assert.equal([got.degraded, got.allowed], [degraded, !degraded], `at +${now - T}`);
    assert.equal(l.health(now).stalePeers.length > 0, degraded);
  }
});

limiter('fail-closed refuses while degraded and suggests retrying after staleMs', () => {
  const l = make({ limit: 100, degraded: 'fail-closed' });
  l.setMembers([b], T);
  const got = l.admit('k', 1, T + 600);
  assert.equal([got.allowed, got.degraded, got.wouldLimit, got.retryAfterMs], [false, true, true, 400]);
  assert.is(l.admit('k', 1, T + 900).retryAfterMs, 100, 'never past the window end');
});

limiter('fail-open keeps admitting against what it knows while degraded, still counting', () => {
  const l = make({ limit: 5, degraded: 'fail-open' });
  l.setMembers([b], T);
  for (let i = 0; i < 5; i++) assert.equal([l.admit('k', 1, T + 600).allowed, l.admit('k', 0, T + 600).degraded], [true, true]);
  assert.is(l.spent('k', T + 600), 5);
  assert.is(l.admit('k', 1, T + 600).allowed, false);
});

limiter('safe-share lets a degraded node spend only limit ÷ cluster size in the window', () => {
  const l = make({ limit: 100 }); // default degraded: safe-share
  l.setMembers([a, b, c, d, e], T);
  for (let i = 0; i < 10; i++) l.admit('k', 1, T + 10); // healthy: any amount
  const table: [cost: number, allowed: boolean, remaining: number][] = [
    [5, true, 5], [6, false, 5], [5, true, 0], [1, false, 0],
  ];
  for (const [cost, allowed, remaining] of table) {
    const got = l.admit('k', cost, T + 600);
    assert.equal([got.allowed, got.remaining, got.degraded], [allowed, remaining, true], `cost ${cost}`);
  }
  assert.is(l.health(T + 600).clusterSize, 5);
  assert.ok(l.admit('other', 20, T + 600).allowed, 'the share is per key');
});

limiter('safe-share also respects the cluster total it already knows', () => {
  const l = make({ limit: 100 });
  const p = peer(b, { limit: 100 });
  l.setMembers([b, c], T);
  p.admit('k', 95, T);
  l.mergeRemote(b, p.takeDelta(T), T + 1);
  const got = l.admit('k', 10, T + 600);
  assert.equal([got.allowed, got.remaining, got.degraded], [false, 5, true]);
});

limiter('a node that loses most of its cluster keeps its share; a majority that loses a crashed node recovers', () => {
  const minority = make({ limit: 100 });
  minority.setMembers([b, c, d, e], T);
  minority.setMembers([], T + 5_000); // membership declared them all dead
  const cut = minority.admit('k', 21, T + 5_000);
  assert.equal([cut.allowed, cut.degraded, minority.health(T + 5_000).clusterSize], [false, true, 5]);

  const majority = make({ limit: 100 });
  majority.setMembers([b, c, d, e], T);
  for (const p of [b, c, d]) majority.mergeRemote(p, peer(p).takeDelta(T + 4_900), T + 4_900);
  majority.setMembers([b, c, d], T + 5_000); // e crashed
  const ok = majority.admit('k', 50, T + 5_000);
  assert.equal([ok.allowed, ok.degraded, majority.health(T + 5_000).clusterSize], [true, false, 4]);
});

limiter('a peer that leaves gracefully shrinks the cluster at once', () => {
  const l = make({ limit: 100 });
  l.setMembers([b], T);
  l.peerLeft(b, T + 100);
  const got = l.admit('k', 100, T + 2_000);
  assert.equal([got.allowed, got.degraded], [true, false]);
});

limiter('rejects bad configuration and bad costs with InvalidArgumentError', () => {
  const bad: Partial<ApproximateLimitInput>[] = [
    { name: '' }, { limit: -1 }, { limit: 1.5 }, { windowMs: 0 }, { windowMs: 10.5 }, { staleMs: 0 },
    { degraded: 'maybe' as never },
  ];
  for (const over of bad) assert.throws(() => make(over), isInvalid, JSON.stringify(over));
  const l = make();
  for (const cost of [-1, 0.5, Number.NaN]) assert.throws(() => l.admit('k', cost, T), isInvalid);
  assert.throws(() => l.reconcile('k', T / 1_000, -1, 0, T), isInvalid);
});

limiter('staleMs defaults to five sync intervals', () => {
  assert.is(defaultStaleMs(100), 500);
});

limiter('the over-admission bound is Σ node rate × (sync interval + bus delay)', () => {
  const table: [rates: number[], syncMs: number, busDelayMs: number, bound: number][] = [
    [[1], 100, 0, 100],
    [[0.5, 0.25, 0.25], 100, 20, 120],
    [[], 100, 20, 0],
    [[2, 0], 0, 5, 10],
  ];
  for (const [nodeRatesPerMs, syncMs, busDelayMs, bound] of table) {
    assert.is(overAdmissionBound({ nodeRatesPerMs, syncMs, busDelayMs }), bound);
  }
  assert.throws(() => overAdmissionBound({ nodeRatesPerMs: [-1], syncMs: 1, busDelayMs: 1 }), isInvalid);
});

limiter.run();

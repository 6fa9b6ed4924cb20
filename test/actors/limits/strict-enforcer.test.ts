import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../../src/errors.ts';
import { parseTarget } from '../../../src/config/load.ts';
import { createStrictEnforcer } from '../../../src/actors/limits/strict-enforcer.ts';
import type { TargetDeps } from '../../../src/actors/target-runtime.ts';
import { decide, rig, strictLimit, T0, WINDOW_MS } from './strict-support.ts';

const client = suite('strict enforcer (prefetch client)');

const W = T0 / WINDOW_MS;

client('the first request waits for a lease; the next ones are decided locally from it', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  const c = r.client('a', strictLimit({ prefetch: { minPrefetch: 10 } }));
  const first = c.admit('k', 1, r.clock.now());
  assert.ok(first instanceof Promise, 'an empty pool: ask the holder');
  await r.run(5);
  assert.ok((await first).allowed);
  assert.is(c.held('k'), 9);
  for (let i = 0; i < 4; i++) {
    const d = c.admit('k', 1, r.clock.now());
    assert.not.ok(d instanceof Promise, 'local');
    assert.ok((d as { allowed: boolean }).allowed);
  }
  assert.is(c.stats.asks, 1, 'still over half the lease: no ask yet');
  c.admit('k', 1, r.clock.now()); // 4 left: under half of 10, so it asks while still admitting
  assert.is(c.stats.asks, 2);
  await r.run(5);
  assert.is(c.held('k'), 14);
  assert.equal([c.stats.decisionsLocal, c.stats.decisionsBus], [5, 1]);
});

client('never admits on credit: with no holder it spends what it holds, then refuses', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  const c = r.client('a', strictLimit({ prefetch: { minPrefetch: 3 } }));
  assert.ok((await decide(r, c)).allowed);
  await r.run(5);
  r.world.holder = undefined; // the holder is gone and nobody holds yet
  r.singletons.get('a')!.notify();
  const got = [0, 1, 2, 3, 4].map(() => c.admit('k', 1, r.clock.now()));
  assert.ok(got.every((d) => !(d instanceof Promise)), 'nobody to wait for');
  assert.equal(got.map((d) => (d as { allowed: boolean }).allowed), [true, true, false, false, false]);
  const refused = got[4] as { degraded: boolean; retryAfterMs: number };
  assert.ok(refused.degraded);
  assert.ok(refused.retryAfterMs > 0);
});

client('after a short grant it refuses at once until the close wait ends', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  const c = r.client('a', strictLimit({ limit: 4, prefetch: { minPrefetch: 10, closeWaitMs: 200 } }));
  assert.ok((await decide(r, c)).allowed, 'asked 10, got the 4 there are');
  for (let i = 0; i < 3; i++) assert.ok((await decide(r, c)).allowed);
  const d = c.admit('k', 1, r.clock.now());
  assert.not.ok(d instanceof Promise, 'no bus wait inside the close wait');
  assert.not.ok((d as { allowed: boolean }).allowed);
  assert.is((d as { retryAfterMs: number }).retryAfterMs, WINDOW_MS - (r.clock.now() - T0), 'spent: retry at the window end');
  assert.equal([c.stats.grantsShort, c.stats.asks], [1, 1]);
});

client('gives back what it holds at the window end and on close; the holder re-leases it', async () => {
  const r = rig(['h', 'a', 'b']);
  r.elect('h', 1);
  const a = r.client('a', strictLimit({ limit: 30, prefetch: { minPrefetch: 30 } }));
  assert.ok((await decide(r, a)).allowed);
  assert.is(a.held('k'), 29);
  const server = r.servers.get('h')!;
  assert.is(server.ledger!.available('t/rps/k', W), 0);
  const closing = a.close();
  await r.run(5);
  await closing;
  assert.is(server.ledger!.available('t/rps/k', W), 29, 'closed: all 29 back');
  const b = r.client('b', strictLimit({ limit: 30, prefetch: { minPrefetch: 5 } }));
  assert.ok((await decide(r, b)).allowed);
  await r.run(WINDOW_MS); // the window ends holding 4
  assert.is(b.stats.unitsReturned, 4);
  assert.equal(server.ledger!.leasesOutstanding().filter((l) => l.node.startsWith('b~')).map((l) => l.heldUnits), [1], 'only the one it spent');
});

client('gives back what it will not use when the holder says the window is spent', async () => {
  const r = rig(['h', 'a', 'b']);
  r.elect('h', 1);
  const a = r.client('a', strictLimit({ limit: 50, prefetch: { minPrefetch: 40, closeWaitMs: 200 } }));
  const b = r.client('b', strictLimit({ limit: 50, prefetch: { minPrefetch: 20, closeWaitMs: 200 } }));
  assert.ok((await decide(r, a)).allowed, 'a leases 40 and uses 1');
  let admitted = 0;
  for (let i = 0; i < 40; i++) { // b is busy: one request every 5 ms
    if ((await decide(r, b)).allowed) admitted++;
    await r.run(5);
  }
  assert.is(a.held('k'), 0, 'a is idle: it kept nothing');
  assert.ok(admitted > 10, `b got more than the 10 left when it first asked: ${admitted}`);
  assert.ok(r.servers.get('h')!.ledger!.grantedTotal('t/rps/k', W) <= 50);
});

client('reports its running totals to a new holder, which then credits its returns', async () => {
  const r = rig(['h', 'h2', 'a']);
  r.elect('h', 1);
  const a = r.client('a', strictLimit({ limit: 20, prefetch: { minPrefetch: 20 } }));
  assert.ok((await decide(r, a)).allowed);
  r.elect('h2', 2, true);
  await r.run(5);
  assert.is(a.stats.reports, 1);
  const fresh = r.servers.get('h2')!.ledger!;
  assert.is(fresh.available('t/rps/k', W), 0, 'fenced');
  const closing = a.close(); // the bus runs on the virtual clock: move it while close waits
  await r.run(5);
  await closing;
  assert.is(fresh.available('t/rps/k', W), 19, 'reported, so its return counts');
});

client('tokens: the estimate is reserved; reconciling gives back the difference or takes the excess', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  const c = r.client('a', strictLimit({ dimension: 'tokens', limit: 1_000, prefetch: { minPrefetch: 100 } }));
  const d = await decide(r, c, 'k', 300);
  assert.ok(d.allowed);
  assert.is(c.held('k'), 0, 'the ask covered exactly the 300 waiting');
  c.reconcile('k', d.windowId, 300, 120, r.clock.now());
  assert.is(c.held('k'), 180, 'used 120 of 300');
  c.reconcile('k', d.windowId, 100, 330, r.clock.now());
  assert.is(c.held('k'), 0, 'used 230 more than estimated: 180 from the pool, 50 owed');
  const next = await decide(r, c, 'k', 10);
  assert.ok(next.allowed);
  assert.is(r.servers.get('h')!.ledger!.grantedTotal('t/rps/k', W), 300 + 50 + Math.max(10, c.held('k') + 10), 'the debt is paid from the next lease');
});

client('shadow mode lets everything through and marks what it would have refused', async () => {
  const r = rig(['h', 'a']);
  const c = r.client('a', strictLimit({ enforce: false }));
  const d = c.admit('k', 1, r.clock.now());
  assert.not.ok(d instanceof Promise);
  assert.equal([(d as { allowed: boolean }).allowed, (d as { wouldLimit: boolean }).wouldLimit], [true, true]);
});

client('a waiting request whose client leaves is rejected with the abort reason', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  r.network.partition([['h'], ['a']]); // asks go unanswered
  const c = r.client('a');
  const ac = new AbortController();
  const p = c.admit('k', 1, r.clock.now(), ac.signal) as Promise<unknown>;
  ac.abort(new Error('client gone'));
  try { await p; assert.unreachable(); } catch (e) { assert.is((e as Error).message, 'client gone'); }
});

client('the factory needs the node singleton and a strict limit', () => {
  const r = rig(['a']);
  const target = parseTarget({ name: 't', prefix: '/t', replicas: ['http://127.0.0.1:1'] });
  const deps = { nodeId: 'a', clusterName: 'c', clock: r.clock, bus: r.buses.get('a')! } as unknown as TargetDeps;
  try { createStrictEnforcer(strictLimit(), target, deps); assert.unreachable(); }
  catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument); }
  const ok = createStrictEnforcer(strictLimit(), target, { ...deps, singleton: r.singletons.get('a')! });
  assert.equal((ok.describe() as { mode: string }).mode, 'strict');
});

client.run();

// Dispatcher session affinity and per-replica slots against real upstream stubs; time is virtual.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { QueueFullError } from '../../../src/errors.ts';
import { ReplicaClient } from '../../../src/proxy/upstream-client.ts';
import { deferred } from '../../support/upstream-stub.ts';
import { harness, sample, settle, target, TrackedStub } from './helpers.ts';

interface ReplicaState { inFlight: number; queued: number; breaker: string }
const states = (d: { describe(): unknown }) => (d.describe() as { replicas: ReplicaState[] }).replicas;

const affinity = suite('dispatcher affinity');
let a: TrackedStub;
let b: TrackedStub;
affinity.before.each(async () => { a = await TrackedStub.start('A'); b = await TrackedStub.start('B'); });
affinity.after.each(async () => { await a.close(); await b.close(); });

const sessions = { dispatch: { affinity: { header: 'x-session-id', ttlMs: 1_000 } }, retry: { attempts: 2 } };

affinity('a session stays on its replica for its ttl, even when another is less loaded', async () => {
  const gate = deferred();
  const h = harness(target([a.url, b.url], sessions)); // random 0: ties go to A
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'A');
  a.answer(async (_r, res) => { await gate.promise; res.end('A'); });
  const held = settle(h.get()); // A is now the busier replica
  await a.arrived(2);
  a.status(200);
  for (let i = 0; i < 3; i++) {
    h.clock.advance(900); // each use renews the binding
    assert.is((await h.get('/x', { affinityKey: 's' })).body, 'A');
  }
  assert.is((await h.get('/x', { affinityKey: 'other' })).body, 'B', 'a new session goes to the least loaded');
  h.clock.advance(1_000); // unused for its whole ttl: the binding is gone
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'B');
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'B', 'and the session is bound to B now');
  gate.resolve();
  await held;
  await h.d.close();
});

affinity('a session moves when its replica fails, and stays where it moved', async () => {
  const h = harness(target([a.url, b.url], sessions));
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'A');
  a.status(503);
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'B', 'the retry went to B');
  a.status(200);
  for (let i = 0; i < 3; i++) assert.is((await h.get('/x', { affinityKey: 's' })).body, 'B');
  await h.d.close();
});

affinity('a session whose replica\'s breaker is open is served elsewhere', async () => {
  const h = harness(target([a.url, b.url], { ...sessions, retry: { attempts: 1 }, breaker: { consecutiveFailures: 1 } }));
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'A');
  a.status(500);
  assert.is((await h.get()).status, 500); // random 0: A, which opens
  assert.is(states(h.d)[0]!.breaker, 'open');
  assert.is((await h.get('/x', { affinityKey: 's' })).body, 'B');
  assert.is(a.calls, 2);
  await h.d.close();
});

const slots = suite('dispatcher slots');
let s: TrackedStub;
slots.before.each(async () => { s = await TrackedStub.start('S'); });
slots.after.each(async () => { await s.close(); });

slots('a full queue answers 503 at once under overload', async () => {
  const gate = deferred();
  s.answer(async (_r, res) => { await gate.promise; res.end('S'); });
  const h = harness(target([s.url], { dispatch: { concurrency: 1, queue: 1 } }));
  const running = settle(h.get());
  const queued = settle(h.get());
  await s.arrived(1);
  const over = await settle(h.get());
  assert.ok(!over.ok && over.error instanceof QueueFullError, 'refused while the others still wait');
  assert.equal([states(h.d)[0]!.inFlight, states(h.d)[0]!.queued], [1, 1]);
  assert.is(await sample(h.metrics, 'sluice_dispatch_refused_total', { target: 't', reason: 'queue_full' }), 1);
  gate.resolve();
  assert.equal([await running, await queued].map((r) => r.ok && r.value.status), [200, 200]);
  assert.is(s.calls, 2);
  await h.d.close();
});

slots('calls in flight on a replica never exceed its concurrency; the rest wait their turn', async () => {
  const t = await TrackedStub.start('T');
  const held = new Map<TrackedStub, Array<() => void>>([[s, []], [t, []]]);
  for (const stub of [s, t]) {
    stub.answer((_r, res) => new Promise<void>((done) => held.get(stub)!.push(() => { res.end(stub.name); done(); })));
  }
  // A pool wider than the cap, so the cap the stubs see is the dispatcher's, not undici's.
  const h = harness(target([s.url, t.url], { dispatch: { concurrency: 2, queue: 50 } }), {
    connect: (origin, o) => new ReplicaClient(origin, { ...o, connections: 64 }),
  });
  const calls = Array.from({ length: 20 }, (_, i) => settle(h.get(`/${i}`)));
  await Promise.all([s.arrived(2), t.arrived(2)]);
  assert.equal(states(h.d).map((r) => [r.inFlight, r.queued]), [[2, 8], [2, 8]], 'least loaded spreads the queue evenly');
  // Answer one call at a time: each frees a slot for exactly one queued call, never more.
  for (const stub of [s, t]) {
    for (let n = 3; n <= 10; n++) {
      held.get(stub)!.shift()!();
      await stub.arrived(n);
      assert.ok(stub.open <= 2, `${stub.name}: ${stub.open} open at once`);
    }
    for (const answer of held.get(stub)!.splice(0)) answer();
  }
  const done = await Promise.all(calls);
  assert.ok(done.every((r) => r.ok && r.value.status === 200));
  assert.equal([s.maxOpen, t.maxOpen, s.calls, t.calls], [2, 2, 10, 10]);
  assert.equal(states(h.d).map((r) => [r.inFlight, r.queued]), [[0, 0], [0, 0]]);
  await h.d.close();
  await t.close();
});

slots('a queued call whose client leaves gives its place up', async () => {
  const gate = deferred();
  s.answer(async (_r, res) => { await gate.promise; res.end('S'); });
  const h = harness(target([s.url], { dispatch: { concurrency: 1, queue: 1 } }));
  const running = settle(h.get());
  await s.arrived(1);
  const leave = new AbortController();
  const left = settle(h.get('/x', { signal: leave.signal }));
  leave.abort();
  assert.is((await left).ok, false);
  assert.is(states(h.d)[0]!.queued, 0);
  const next = settle(h.get()); // the freed place in the queue
  gate.resolve();
  assert.equal([await running, await next].map((r) => r.ok && r.value.status), [200, 200]);
  assert.is(s.calls, 2, 'the call that left never reached the replica');
  await h.d.close();
});

affinity.run();
slots.run();

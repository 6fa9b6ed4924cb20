// Dispatcher × breakers against real upstream stubs on loopback; breaker time is virtual (issue #7).
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { BreakerOpenError, ErrorCode, UpstreamTimeoutError } from '../../../src/errors.ts';
import { ReplicaClient } from '../../../src/proxy/upstream-client.ts';
import { deferred } from '../../support/upstream-stub.ts';
import { harness, sample, settle, target, TrackedStub } from './helpers.ts';

/** Alternates ties between the first and the last candidate: A, B, A, B… for two idle replicas. */
const alternating = () => { let i = 0; return () => (i++ % 2 === 0 ? 0 : 0.99); };

interface ReplicaState { replica: string; breaker: string; inFlight: number; queued: number; errors: number; calls: number }
const states = (d: { describe(): unknown }) => (d.describe() as { replicas: ReplicaState[] }).replicas;

const breakers = suite('dispatcher breakers');
let a: TrackedStub;
let b: TrackedStub;
breakers.before.each(async () => { a = await TrackedStub.start('A'); b = await TrackedStub.start('B'); });
breakers.after.each(async () => { await a.close(); await b.close(); });

const noRetry = { retry: { attempts: 1 }, breaker: { consecutiveFailures: 3, openMs: 1_000 } };

breakers('a failing replica\'s breaker opens after the configured failures and calls stop reaching it', async () => {
  b.status(500);
  const h = harness(target([a.url, b.url], noRetry), { random: alternating() });
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await h.get()).status);
  assert.is(b.calls, 3, 'exactly consecutiveFailures calls reached the failing replica');
  assert.is(statuses.filter((s) => s === 500).length, 3);
  assert.is(a.calls, 27);
  assert.equal(states(h.d).map((r) => r.breaker), ['closed', 'open']);
  await h.d.close();
});

breakers('half-open probes close the breaker once the replica recovers, and re-open it with a longer wait while it does not', async () => {
  b.status(500);
  const h = harness(target([a.url, b.url], noRetry), { random: alternating() });
  for (let i = 0; i < 6; i++) await h.get();
  assert.is(b.calls, 3);
  h.clock.advance(1_000); // openMs: half-open now
  for (let i = 0; i < 4; i++) await h.get();
  assert.is(b.calls, 4, 'one probe (probes: 1), and it failed');
  assert.is(states(h.d)[1]!.breaker, 'open');
  h.clock.advance(1_999); // the re-open doubled the wait to 2000 ms
  for (let i = 0; i < 4; i++) await h.get();
  assert.is(b.calls, 4, 'no call reaches it before the longer wait is over');
  b.status(200);
  h.clock.advance(1);
  const served = new Set<string>();
  for (let i = 0; i < 6; i++) served.add((await h.get()).body);
  assert.equal([...served].sort(), ['A', 'B']);
  assert.is(states(h.d)[1]!.breaker, 'closed');
  assert.is(await sample(h.metrics, 'sluice_replica_breaker_transitions_total', { replica: b.url, from: 'halfOpen', to: 'closed' }), 1);
  assert.is(await sample(h.metrics, 'sluice_replica_breaker_transitions_total', { replica: b.url, from: 'halfOpen', to: 'open' }), 1);
  await h.d.close();
});

breakers('new calls go to the least loaded replica', async () => {
  const gate = deferred();
  a.answer(async (_r, res) => { await gate.promise; res.end('A'); });
  const h = harness(target([a.url, b.url], noRetry)); // random 0: ties go to A
  const held = settle(h.get());
  await a.arrived(1);
  for (let i = 0; i < 5; i++) assert.is((await h.get()).body, 'B');
  gate.resolve();
  const first = await held;
  assert.ok(first.ok && first.value.body === 'A');
  await h.d.close();
});

breakers('an open breaker answers at once with the time left open, without calling upstream', async () => {
  a.status(500);
  const h = harness(target([a.url], noRetry));
  for (let i = 0; i < 3; i++) assert.is((await h.get()).status, 500);
  h.clock.advance(400);
  const r = await settle(h.get());
  assert.ok(!r.ok && r.error instanceof BreakerOpenError);
  assert.is((r as { error: BreakerOpenError }).error.retryAfterMs, 600);
  assert.is(a.calls, 3);
  assert.is(await sample(h.metrics, 'sluice_dispatch_refused_total', { target: 't', reason: 'breaker_open' }), 1);
  await h.d.close();
});

breakers('a half-open breaker lets exactly `probes` calls through however many arrive together', async () => {
  const gate = deferred();
  a.status(500);
  const h = harness(target([a.url], { ...noRetry, breaker: { consecutiveFailures: 1, openMs: 1_000, probes: 2 } }));
  await h.get();
  h.clock.advance(1_000);
  a.answer(async (_r, res) => { await gate.promise; res.end('A'); });
  const calls = Array.from({ length: 6 }, () => settle(h.get()));
  await a.arrived(3);
  const refused = await Promise.all(calls.slice(2));
  assert.ok(refused.every((r) => !r.ok && (r.error as BreakerOpenError).code === ErrorCode.BreakerOpen));
  gate.resolve();
  const probes = await Promise.all(calls.slice(0, 2));
  assert.ok(probes.every((r) => r.ok && r.value.status === 200));
  assert.is(a.calls, 3, 'the trip, then two probes');
  assert.is(states(h.d)[0]!.breaker, 'closed');
  await h.d.close();
});

breakers('a call its client abandons is not counted against the replica', async () => {
  const gate = deferred();
  a.answer(async (_r, res) => { await gate.promise; res.end('A'); });
  const h = harness(target([a.url], { ...noRetry, breaker: { consecutiveFailures: 1 } }));
  const leave = new AbortController();
  const call = settle(h.get('/x', { signal: leave.signal }));
  await a.arrived(1);
  leave.abort();
  assert.is((await call).ok, false);
  const [s] = states(h.d);
  assert.equal([s!.breaker, s!.errors, s!.inFlight], ['closed', 0, 0]);
  gate.resolve();
  await h.d.close();
});

breakers('a replica that hangs is cut at the target deadline (504) and counted as failing', async () => {
  const never = deferred();
  a.answer(async (_r, res) => { await never.promise; res.end(); });
  // undici's own timers run on real time: give them room, so the virtual deadline is what ends the call.
  const h = harness(target([a.url], { ...noRetry, timeoutMs: 500, breaker: { consecutiveFailures: 1 } }), {
    connect: (origin, o) => new ReplicaClient(origin, { ...o, timeoutMs: 60_000 }),
  });
  const call = settle(h.get());
  await a.arrived(1);
  h.clock.advance(499);
  assert.is(states(h.d)[0]!.inFlight, 1, 'still waiting one ms before the deadline');
  h.clock.advance(1);
  const r = await call;
  assert.ok(!r.ok && r.error instanceof UpstreamTimeoutError);
  assert.is(states(h.d)[0]!.breaker, 'open');
  assert.is(await sample(h.metrics, 'sluice_replica_errors_total', { replica: a.url, kind: 'timeout' }), 1);
  never.resolve();
  await h.d.close();
});

breakers('metrics show each replica\'s in flight, queue, capacity and breaker state', async () => {
  const gate = deferred();
  a.answer(async (_r, res) => { await gate.promise; res.end('A'); });
  b.status(500);
  const h = harness(target([a.url, b.url], { ...noRetry, breaker: { consecutiveFailures: 1 }, dispatch: { concurrency: 1, queue: 3 } }));
  const held = [settle(h.get()), settle(h.get())]; // A holds the first; the second goes to idle B, whose 500 opens its breaker
  await a.arrived(1);
  await held[1];
  const queued = settle(h.get()); // B is open: queued behind A's running call
  assert.is(await sample(h.metrics, 'sluice_replica_in_flight', { replica: a.url }), 1);
  assert.is(await sample(h.metrics, 'sluice_replica_queued', { replica: a.url }), 1);
  assert.is(await sample(h.metrics, 'sluice_replica_capacity', { replica: a.url }), 1);
  assert.is(await sample(h.metrics, 'sluice_replica_queue_capacity', { replica: a.url }), 3);
  assert.is(await sample(h.metrics, 'sluice_replica_breaker_state', { replica: b.url, state: 'open' }), 1);
  assert.is(await sample(h.metrics, 'sluice_replica_breaker_state', { replica: b.url, state: 'closed' }), 0);
  assert.is(await sample(h.metrics, 'sluice_replica_errors_total', { replica: b.url, kind: 'status' }), 1);
  gate.resolve();
  await Promise.all([held[0], queued]);
  assert.is(await sample(h.metrics, 'sluice_replica_in_flight', { replica: a.url }), 0);
  await h.d.close();
});

breakers.run();

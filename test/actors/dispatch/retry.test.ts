// Dispatcher retries against real upstream stubs: backoff with jitter, Retry-After, the budget, and
// what must never be retried. Backoff is counted on the virtual clock, never slept (issue #7).
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { UpstreamUnavailableError } from '../../../src/errors.ts';
import type { DispatchEvent } from '../../../src/actors/dispatcher.ts';
import { deadReplica } from '../../support/ports.ts';
import { harness, sample, settle, target, TrackedStub } from './helpers.ts';

/** Answers the statuses in turn (with optional headers), then 200 for ever. */
function script(s: TrackedStub, steps: Array<number | [number, Record<string, string>]>, body = s.name): void {
  let i = 0;
  s.answer((_r, res) => {
    const step = steps[i++] ?? 200;
    const [status, headers] = typeof step === 'number' ? [step, {}] : step;
    res.writeHead(status, headers);
    res.end(body);
  });
}

const started = (events: DispatchEvent[]) => events.filter((e) => e.type === 'attempt.started').map((e) => e.at);
const delays = (events: DispatchEvent[]) => events.flatMap((e) => (e.type === 'retry.scheduled' ? [e.delayMs] : []));

const retry = suite('dispatcher retries');
let a: TrackedStub;
let b: TrackedStub;
retry.before.each(async () => { a = await TrackedStub.start('A'); b = await TrackedStub.start('B'); });
retry.after.each(async () => { await a.close(); await b.close(); });

const policy = { retry: { attempts: 3, baseMs: 100, maxMs: 2_000 } };

retry('backs off exponentially with full jitter, on the clock', async () => {
  for (const [random, expected] of [[0.5, [50, 100]], [0.25, [25, 50]]] as const) {
    script(a, [503, 503]);
    const h = harness(target([a.url], policy), { random: () => random });
    const t0 = h.clock.now();
    const r = await h.get();
    assert.is(r.status, 200);
    assert.equal(delays(h.events), [...expected], 'random × min(maxMs, baseMs · 2^retry)');
    assert.equal(started(h.events), [t0, t0 + expected[0], t0 + expected[0] + expected[1]], 'each try waits its backoff');
    await h.d.close();
  }
});

retry('waits at least the upstream\'s Retry-After', async () => {
  script(a, [[503, { 'retry-after': '3' }]]);
  const h = harness(target([a.url], policy), { random: () => 0.5 });
  const t0 = h.clock.now();
  assert.is((await h.get()).status, 200);
  assert.equal(started(h.events), [t0, t0 + 3_000]);
  await h.d.close();
});

retry('a Retry-After beyond maxTotalMs passes the upstream answer on instead of waiting', async () => {
  script(a, [[503, { 'retry-after': '60' }]]);
  const h = harness(target([a.url], policy));
  const r = await h.get();
  assert.is(r.status, 503);
  assert.is(a.calls, 1);
  assert.ok(h.events.some((e) => e.type === 'retry.skipped' && e.reason === 'out-of-time'));
  await h.d.close();
});

retry('the budget keeps retries within its share of first tries', async () => {
  a.status(503);
  const h = harness(target([a.url], { retry: { attempts: 3, baseMs: 10, budget: 0.5 }, breaker: { consecutiveFailures: 1000, minCalls: 1000 } }), {
    retryBudget: { minPerSecond: 0 },
  });
  for (let i = 0; i < 10; i++) assert.is((await h.get()).status, 503);
  // Each call wants 2 retries; 10 first tries earn 0.5 each: 5 retries in all, whatever the order.
  assert.is(a.calls, 15);
  assert.is(await sample(h.metrics, 'sluice_dispatch_retries_total', { target: 't', outcome: 'scheduled' }), 5);
  assert.ok((await sample(h.metrics, 'sluice_dispatch_retries_total', { target: 't', outcome: 'budget_exhausted' }))! > 0);
  await h.d.close();
});

retry('a retry goes to another replica when one is available', async () => {
  a.status(503);
  const h = harness(target([a.url, b.url], policy)); // random 0: the first try goes to A
  const r = await h.get();
  assert.equal([r.status, r.body], [200, 'B']);
  assert.equal([a.calls, b.calls], [1, 1]);
  await h.d.close();
});

retry('a replica that cannot be reached is retried on another', async () => {
  const deadOne = await deadReplica();
  const dead = deadOne.url;
  const h = harness(target([dead, b.url], policy));
  const r = await h.get();
  assert.equal([r.status, r.body], [200, 'B']);
  assert.is(await sample(h.metrics, 'sluice_replica_errors_total', { replica: dead, kind: 'unreachable' }), 1);
  await h.d.close();
  await deadOne.close();
});

retry('with every try failing, the caller gets the last failure after `attempts` tries', async () => {
  const dead = await deadReplica();
  const h = harness(target([dead.url], policy));
  const r = await settle(h.get());
  assert.ok(!r.ok && r.error instanceof UpstreamUnavailableError);
  assert.is(h.events.filter((e) => e.type === 'attempt.started').length, 3);
  assert.is(dead.resets, 3, 'each try reached the dead replica and was reset');
  await h.d.close();
  await dead.close();
});

retry('a call that is not idempotent is never retried', async () => {
  a.status(503);
  const h = harness(target([a.url, b.url], policy));
  assert.is((await h.get('/x', { idempotent: false })).status, 503);
  assert.equal([a.calls, b.calls], [1, 0]);
  await h.d.close();
});

retry('a streamed request body is never sent twice', async () => {
  a.status(503);
  const h = harness(target([a.url, b.url], policy));
  const { reply } = await h.d.call({ method: 'PUT', path: '/x', headers: {}, body: Readable.from([Buffer.from('once')]) }, { idempotent: true });
  for await (const _ of reply.body) void _;
  assert.is(reply.status, 503);
  assert.equal([a.calls, b.calls], [1, 0]);
  assert.is(a.stub.received[0]!.body.toString(), 'once');
  await h.d.close();
});

retry('a buffered body is sent again whole on a retry', async () => {
  a.status(503);
  const h = harness(target([a.url, b.url], policy));
  const { reply } = await h.d.call({ method: 'PUT', path: '/x', headers: {}, body: Buffer.from('twice') }, { idempotent: true });
  for await (const _ of reply.body) void _;
  assert.is(reply.status, 200);
  assert.is(b.stub.received[0]!.body.toString(), 'twice');
  await h.d.close();
});

retry('replies retried away from are dropped without holding their connection', async () => {
  // One connection per replica: a retry would wait for ever if the dropped reply kept it.
  for (const size of [100, 1024 * 1024]) {
    script(a, [503, 503], 'x'.repeat(size));
    const h = harness(target([a.url], { ...policy, dispatch: { concurrency: 1, queue: 4 } }), { random: () => 0.5 });
    const r = await h.get();
    assert.is(r.status, 200);
    assert.is(a.calls % 3, 0);
    assert.equal((h.d.describe() as { replicas: Array<{ inFlight: number }> }).replicas[0]!.inFlight, 0);
    await h.d.close();
  }
});

retry.run();

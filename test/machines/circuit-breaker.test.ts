import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { VirtualClock } from '../../src/clock.ts';
import { breakerSchema } from '../../src/config/schema.ts';
import type { Clock } from '../../src/clock.ts';
import { createBreaker } from '../../src/machines/breaker-actor.ts';
import type { BreakerTransition } from '../../src/machines/breaker-actor.ts';
import { circuitBreaker, DEFAULT_BREAKER_CONFIG, tryAcquire } from '../../src/machines/circuit-breaker.ts';
import type { BreakerConfig } from '../../src/machines/circuit-breaker.ts';

const FAST = 5;
const base: BreakerConfig = { ...DEFAULT_BREAKER_CONFIG };

function setup(overrides: Partial<BreakerConfig> = {}, clock = new VirtualClock(1_000_000)) {
  const b = createBreaker({ config: { ...base, ...overrides }, clock });
  const changes: BreakerTransition[] = [];
  b.subscribe((t) => changes.push(t));
  return { b, clock, changes };
}

/** Drives a breaker from closed to open with failures in a row. */
function trip(b: ReturnType<typeof setup>['b'], n = base.consecutiveFailures): void {
  for (let i = 0; i < n; i++) { assert.ok(b.tryAcquire()); b.onResult(false, FAST); }
}

const breaker = suite('circuit breaker');

breaker('opens on the Nth failure in a row and not before', () => {
  const { b, changes } = setup();
  trip(b, 4);
  assert.is(b.state, 'closed');
  b.onResult(false, FAST);
  assert.is(b.state, 'open');
  assert.equal(changes.map((c) => [c.to, c.reason]), [['open', 'consecutive-failures']]);
  assert.is(b.tryAcquire(), false);
});

breaker('a success in between starts the count of failures in a row again', () => {
  const { b } = setup();
  trip(b, 4);
  b.onResult(true, FAST);
  trip(b, 4);
  assert.is(b.state, 'closed');
});

breaker('a refused call is told to come back when the open period ends', () => {
  const { b, clock } = setup();
  trip(b);
  clock.advance(300);
  const a = b.acquire();
  assert.equal(a, { admitted: false, retryAfterMs: 700 });
  assert.is(b.retryAfterMs(), 700);
});

breaker('half-opens exactly openMs after tripping', () => {
  const { b, clock } = setup();
  trip(b);
  clock.advance(999);
  assert.is(b.state, 'open');
  clock.advance(1);
  assert.is(b.state, 'halfOpen');
  assert.is(b.retryAfterMs(), 0);
});

breaker('the open period doubles on each failed probe up to maxOpenMs, and starts over after closing', () => {
  const { b, clock } = setup();
  trip(b);
  const periods: number[] = [];
  for (let i = 0; i < 7; i++) {
    periods.push(b.retryAfterMs());
    clock.advance(b.retryAfterMs());
    assert.is(b.state, 'halfOpen');
    assert.ok(b.tryAcquire());
    b.onResult(false, FAST);
    assert.is(b.state, 'open');
  }
  assert.equal(periods, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  clock.advance(30_000);
  assert.ok(b.tryAcquire());
  b.onResult(true, FAST);
  assert.is(b.state, 'closed');
  trip(b);
  assert.is(b.retryAfterMs(), 1_000);
});

breaker('half-open lets exactly `probes` of 100 concurrent callers through', async () => {
  const { b, clock } = setup({ probes: 3 });
  trip(b);
  clock.advance(1_000);
  const answers = await Promise.all(Array.from({ length: 100 }, async () => { await null; return b.tryAcquire(); }));
  assert.is(answers.filter(Boolean).length, 3);
  assert.is(b.snapshot().context.probesIssued, 3);
});

breaker('closes only when every probe succeeded', () => {
  const { b, clock, changes } = setup({ probes: 2 });
  trip(b);
  clock.advance(1_000);
  const p1 = b.acquire(), p2 = b.acquire();
  assert.ok(p1.admitted && p2.admitted);
  b.onResult(true, FAST, p1.admitted ? p1.permit : undefined);
  assert.is(b.state, 'halfOpen');
  b.onResult(true, FAST, p2.admitted ? p2.permit : undefined);
  assert.is(b.state, 'closed');
  assert.equal(changes.map((c) => `${c.from}->${c.to}:${c.reason}`), [
    'closed->open:consecutive-failures', 'open->halfOpen:open-elapsed', 'halfOpen->closed:probes-succeeded',
  ]);
});

breaker('a slow probe counts as a failed one', () => {
  const { b, clock } = setup();
  trip(b);
  clock.advance(1_000);
  assert.ok(b.tryAcquire());
  b.onResult(true, base.slowCallMs + 1);
  assert.is(b.state, 'open');
  assert.is(b.snapshot().context.reason, 'probe-failed');
});

breaker('probes that do not finish within halfOpenMaxMs re-open it, and their late results are ignored', () => {
  const { b, clock } = setup({ halfOpenMaxMs: 2_000 });
  trip(b);
  clock.advance(1_000);
  const probe = b.acquire();
  assert.ok(probe.admitted);
  clock.advance(1_999);
  assert.is(b.state, 'halfOpen');
  clock.advance(1);
  assert.is(b.state, 'open');
  assert.is(b.snapshot().context.reason, 'half-open-timeout');
  assert.is(b.retryAfterMs(), 2_000);
  clock.advance(500);
  b.onResult(true, 2_500, probe.admitted ? probe.permit : undefined);
  assert.is(b.state, 'open');
});

breaker('a call admitted before the trip that succeeds late cannot close the half-open breaker', () => {
  const { b, clock } = setup();
  const straggler = b.acquire();
  assert.ok(straggler.admitted);
  trip(b);
  clock.advance(1_000);
  assert.ok(b.tryAcquire());
  b.onResult(true, 1_500, straggler.admitted ? straggler.permit : undefined);
  assert.is(b.state, 'halfOpen');
  assert.is(b.snapshot().context.probesSucceeded, 0);
});

breaker('the failure rate opens it only once the window holds minCalls calls', () => {
  const { b, clock } = setup({ consecutiveFailures: 100, minCalls: 10, failureRate: 0.5 });
  // Alternating failure and success: a 50 % rate that never makes failures in a row.
  for (let i = 0; i < 9; i++) { b.onResult(i % 2 === 0, FAST); clock.advance(10); }
  assert.is(b.state, 'closed');
  b.onResult(false, FAST);
  assert.is(b.state, 'open');
  assert.is(b.snapshot().context.reason, 'failure-rate');
});

breaker('a failure rate below the threshold keeps it closed however many calls', () => {
  const { b, clock } = setup({ consecutiveFailures: 100, minCalls: 10, failureRate: 0.5 });
  for (let i = 0; i < 300; i++) { b.onResult(i % 3 !== 0, FAST); clock.advance(10); }
  assert.is(b.state, 'closed');
});

breaker('failures older than the window no longer count toward the rate', () => {
  const { b, clock } = setup({ consecutiveFailures: 100, minCalls: 10, failureRate: 0.5, windowMs: 10_000 });
  for (let i = 0; i < 9; i++) b.onResult(false, FAST);
  clock.advance(10_000);
  for (let i = 0; i < 9; i++) b.onResult(true, FAST);
  b.onResult(false, FAST);
  assert.is(b.state, 'closed', '1 failure in 10 calls within the window');
});

breaker('the slow-call rate opens it once the window holds minCalls calls', () => {
  const { b } = setup({ minCalls: 4, slowCallMs: 100, slowCallRate: 0.75 });
  b.onResult(true, 101);
  b.onResult(true, 101);
  b.onResult(true, 101);
  assert.is(b.state, 'closed', 'three calls are fewer than minCalls');
  b.onResult(true, FAST);
  assert.is(b.state, 'open', '3 of 4 slow');
  assert.is(b.snapshot().context.reason, 'slow-call-rate');
});

breaker('a call of exactly slowCallMs is not slow', () => {
  const { b } = setup({ minCalls: 4, slowCallMs: 100, slowCallRate: 0.75 });
  for (const ms of [101, 100, 100, 101]) b.onResult(true, ms);
  assert.is(b.state, 'closed', '2 of 4 slow');
});

breaker('by default only an all-slow window opens it on slowness', () => {
  const { b } = setup({ minCalls: 4 });
  for (let i = 0; i < 3; i++) b.onResult(true, base.slowCallMs + 1);
  b.onResult(true, FAST);
  assert.is(b.state, 'closed');
  for (let i = 0; i < 4; i++) b.onResult(true, base.slowCallMs + 1);
  assert.is(b.state, 'closed', '7 of 8 still under the default rate of 1');
});

breaker('a timer that fires late is caught up by the next call', () => {
  const stuck = new VirtualClock(0);
  // A clock whose timers never fire: an event loop too busy to run them.
  const clock: Clock = { now: () => stuck.now(), setTimeout: () => 0, clearTimeout: () => {} };
  const b = createBreaker({ config: base, clock });
  trip(b);
  stuck.advance(1_500);
  assert.is(b.tryAcquire(), true, 'half-opened on the way');
  assert.is(b.state, 'halfOpen');
});

breaker('a timer that fires early waits for the rest of its time', () => {
  // Real timers can fire a millisecond before Date.now() reaches their due time.
  const inner = new VirtualClock(0);
  const early: Clock = { now: () => inner.now(), setTimeout: (fn, ms) => inner.setTimeout(fn, ms > 5 ? ms - 5 : ms), clearTimeout: (id) => inner.clearTimeout(id) };
  const b = createBreaker({ config: base, clock: early });
  trip(b);
  inner.advance(995);
  assert.is(b.state, 'open');
  assert.is(inner.pending, 1, 're-armed');
  inner.advance(5);
  assert.is(b.state, 'halfOpen');
});

breaker('a listener may call back into the breaker, and one that throws breaks nothing', () => {
  const errors: unknown[] = [];
  const clock = new VirtualClock(0);
  const b = createBreaker({ config: base, clock, onListenerError: (e) => errors.push(e) });
  const seen: boolean[] = [];
  b.subscribe((t) => { if (t.to === 'halfOpen') seen.push(b.tryAcquire()); });
  b.subscribe(() => { throw new Error('metrics broke'); });
  trip(b);
  clock.advance(1_000);
  assert.equal(seen, [true]);
  assert.is(b.snapshot().context.probesIssued, 1);
  assert.is(errors.length, 2);
});

breaker('after stop it refuses calls, drops results and holds no timer', () => {
  const { b, clock } = setup();
  trip(b);
  b.stop();
  assert.is(clock.pending, 0);
  clock.advance(5_000);
  assert.is(b.tryAcquire(), false);
  b.onResult(true, FAST);
});

breaker('successes folded on the hot path still trip the breaker on exactly the success that reaches minCalls', () => {
  const { b, changes } = setup({ consecutiveFailures: 10, minCalls: 4, failureRate: 0.5 });
  for (let i = 0; i < 3; i++) { b.acquire(); b.onResult(false, FAST); }
  assert.is(b.state, 'closed', '3 calls: under minCalls');
  b.acquire();
  b.onResult(true, FAST);
  assert.is(b.state, 'open', 'the 4th call, a success, makes 3 failures of 4 ≥ 50%');
  assert.is(changes[0]!.reason, 'failure-rate');
});

breaker('a run of fast successes is counted in the window: later failures are weighed against it', () => {
  const { b, clock } = setup({ consecutiveFailures: 100, minCalls: 10, failureRate: 0.5, windowMs: 10_000 });
  for (let i = 0; i < 90; i++) { b.acquire(); b.onResult(true, FAST); }
  clock.advance(5_000);
  for (let i = 0; i < 80; i++) { b.acquire(); b.onResult(false, FAST); }
  assert.is(b.state, 'closed', '80 failures of 170 calls stay under 50%');
  assert.is(b.snapshot().context.failuresInRow, 80);
  // The run is reported in its own bucket: once that bucket leaves the window, the failures dominate.
  clock.advance(5_000);
  b.acquire();
  b.onResult(false, FAST);
  assert.is(b.state, 'open');
});

const machine = suite('circuit breaker machine');

machine('tryAcquire answers from the snapshot of a bare actor', () => {
  const actor = createActor(circuitBreaker, { input: { config: { ...base, consecutiveFailures: 1 }, at: 0 } }).start();
  assert.is(tryAcquire(actor), true);
  actor.send({ type: 'call.finished', ok: false, durationMs: FAST, at: 0 });
  assert.is(tryAcquire(actor), false);
  assert.is(actor.getSnapshot().context.openUntil, 1_000);
});

machine('a timer event before the open period ends is ignored', () => {
  const actor = createActor(circuitBreaker, { input: { config: { ...base, consecutiveFailures: 1 }, at: 0 } }).start();
  actor.send({ type: 'call.finished', ok: false, durationMs: FAST, at: 0 });
  actor.send({ type: 'timer.expired', at: 999 });
  assert.is(actor.getSnapshot().value, 'open');
  actor.send({ type: 'timer.expired', at: 1_000 });
  assert.is(actor.getSnapshot().value, 'halfOpen');
});

machine('events are typed: a result without its duration does not compile', () => {
  const actor = createActor(circuitBreaker, { input: { config: base, at: 0 } });
  // @ts-expect-error durationMs and at are required
  const bad = () => actor.send({ type: 'call.finished', ok: true });
  // @ts-expect-error not a breaker event
  const unknown = () => actor.send({ type: 'call.failed' });
  assert.type(bad, 'function');
  assert.type(unknown, 'function');
});

machine('takes the parsed `breaker` config section as it is, with the same defaults', () => {
  const { failOn429, ...parsed } = breakerSchema.parse({});
  assert.equal(parsed, { ...DEFAULT_BREAKER_CONFIG });
  assert.is(failOn429, false);
  const b = createBreaker({ config: breakerSchema.parse({ probes: 2 }), clock: new VirtualClock() });
  assert.is(b.snapshot().context.config.probes, 2);
  b.stop();
});

breaker.run();
machine.run();

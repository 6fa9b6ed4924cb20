// Model-based test of the circuit breaker: @xstate/test walks the machine's graph (every edge up to
// four state changes, small numbers so paths stay few) and replays each path on a real breaker
// (createBreaker over a VirtualClock). At each step an oracle written apart from the machine says
// whether the call is let through, what a refused caller is answered (503 + Retry-After) and which
// state changes may happen at all.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { createTestModel } from '@xstate/test';
import { VirtualClock } from '../../src/clock.ts';
import { total } from '../../src/dispatch/rolling-counts.ts';
import { BreakerOpenError } from '../../src/errors.ts';
import { problemFor, retryAfterSeconds } from '../../src/http/problem.ts';
import { createBreaker } from '../../src/machines/breaker-actor.ts';
import type { Breaker } from '../../src/machines/breaker-actor.ts';
import { circuitBreaker, nextTimerAt } from '../../src/machines/circuit-breaker.ts';
import type { BreakerEvent, BreakerSnapshot, BreakerState } from '../../src/machines/circuit-breaker.ts';

const config = {
  consecutiveFailures: 2, failureRate: 0.5, windowMs: 10_000, minCalls: 3, slowCallMs: 100, slowCallRate: 0.5,
  openMs: 1_000, maxOpenMs: 1_500, probes: 2, halfOpenMaxMs: 500,
};
const FAST = 10;
const SLOW = 200;
/** State changes per path; enough for closed → open → halfOpen → open (capped backoff) → halfOpen. */
const MAX_EPOCH = 4;
/** Calls per closed period: enough to trip each rate rule with minCalls 3. */
const MAX_WINDOW_CALLS = 4;

type Finished = Extract<BreakerEvent, { type: 'call.finished' }>;

// `calls.succeeded` is the breaker actor's own batching of fast successes (breaker-actor.ts), never
// sent by a caller: the walk sends it bare, which the machine ignores, and the hot path it stands
// for is exercised here through `call.finished` results replayed on the real breaker.

// Every event happens at the time the current state was entered; only timers move the clock. A
// result whose epoch is older than the current one is a straggler admitted before the last change.
function eventsFrom(s: BreakerSnapshot): BreakerEvent[] {
  const at = s.context.since, epoch = s.context.epoch, due = nextTimerAt(s);
  return [
    { type: 'call.requested' },
    { type: 'call.finished', ok: true, durationMs: FAST, at, epoch },
    { type: 'call.finished', ok: false, durationMs: FAST, at, epoch },
    { type: 'call.finished', ok: true, durationMs: SLOW, at, epoch },
    { type: 'call.finished', ok: false, durationMs: FAST, at, epoch: epoch - 1 },
    ...(s.value === 'closed' ? [] : [{ type: 'call.finished' as const, ok: true, durationMs: FAST, at, epoch: epoch - 1 }]),
    ...(due === null ? [] : [{ type: 'timer.expired' as const, at: due }]),
  ];
}

const serialize = (s: BreakerSnapshot): string => JSON.stringify({ value: s.value, context: { ...s.context, config: undefined } });

const model = createTestModel(circuitBreaker, {
  events: eventsFrom,
  fromState: createActor(circuitBreaker, { input: { config, at: 0 } }).getSnapshot(),
  // A vertex per (state, event, next state): shortest paths to every vertex cover every edge,
  // including the ones that change nothing (ignored stragglers, refused calls).
  serializeState: (s: BreakerSnapshot, e: BreakerEvent | undefined, prev: BreakerSnapshot | undefined) =>
    serialize(s) + (e && prev ? ` via ${JSON.stringify(e)} from ${serialize(prev)}` : ''),
  filter: (s: BreakerSnapshot) => s.context.epoch <= MAX_EPOCH && total(s.context.window, s.context.since, 'calls') <= MAX_WINDOW_CALLS,
} as Parameters<typeof createTestModel<typeof circuitBreaker>>[1]);

/** What the oracle knows, learnt only from the path walked so far. */
interface Oracle {
  state: BreakerState;
  /** Re-opens since the breaker last closed: the open period is openMs · 2^reopens, capped. */
  reopens: number;
  /** Permits handed out since half-opening. */
  probesTaken: number;
  /** Probes reported successful since half-opening. */
  probesOk: number;
  /** This closed period's results: all come at one instant, so none has left the window. */
  calls: number;
  failures: number;
  slow: number;
  failuresInRow: number;
}

const expectedOpenMs = (o: Oracle): number => Math.min(config.maxOpenMs, config.openMs * 2 ** o.reopens);

function checkRefusal(b: Breaker, o: Oracle, retryAfterMs: number): void {
  const answer = new BreakerOpenError('llm', retryAfterMs);
  assert.is(problemFor(answer).status, 503);
  assert.ok(retryAfterMs > 0, 'a refusal names a wait');
  if (o.state === 'open') {
    assert.is(retryAfterMs, expectedOpenMs(o), 'an open breaker asks to wait for the rest of its open period');
    assert.is(retryAfterSeconds(answer), Math.ceil(expectedOpenMs(o) / 1000));
  } else {
    assert.ok(retryAfterMs <= config.halfOpenMaxMs, 'a full half-open breaker asks to wait no longer than its probes may take');
  }
  assert.is(b.state, o.state, 'a refused call changes nothing');
}

function runPath(path: ReturnType<typeof model.getShortestPaths>[number]): void {
  const clock = new VirtualClock(0);
  const b = createBreaker({ config, clock });
  const o: Oracle = { state: 'closed', reopens: 0, probesTaken: 0, probesOk: 0, calls: 0, failures: 0, slow: 0, failuresInRow: 0 };
  const changes: string[] = [];
  b.subscribe((t) => changes.push(`${t.from}->${t.to}`));

  const learn = (next: BreakerState): void => {
    if (next === o.state) return;
    if (next === 'open') o.reopens = o.state === 'halfOpen' ? o.reopens + 1 : 0;
    if (next === 'closed') Object.assign(o, { reopens: 0, calls: 0, failures: 0, slow: 0, failuresInRow: 0 });
    if (next === 'halfOpen') { o.probesTaken = 0; o.probesOk = 0; }
    o.state = next;
  };

  path.testSync({
    states: {
      '*': (s) => {
        assert.is(b.state, s.value, 'the breaker is in the state the model reached');
        assert.is(clock.now(), s.context.since, 'the clock stands where the model says');
        learn(s.value as BreakerState);
        if (o.state === 'closed') assert.is(b.retryAfterMs(), 0);
        if (o.state === 'open') assert.is(b.retryAfterMs(), expectedOpenMs(o));
        assert.is(clock.pending, o.state === 'closed' ? 0 : 1, 'exactly one timer while open or half-open, none while closed');
      },
    },
    events: {
      'call.requested': () => {
        const expected = o.state === 'closed' || (o.state === 'halfOpen' && o.probesTaken < config.probes);
        const a = b.acquire();
        assert.is(a.admitted, expected, `a call in ${o.state} with ${o.probesTaken} probes out is ${expected ? 'let through' : 'refused'}`);
        if (a.admitted) { if (o.state === 'halfOpen') o.probesTaken++; } else checkRefusal(b, o, a.retryAfterMs);
      },
      'call.finished': (step) => {
        const e = step.event as unknown as Finished;
        const before = o.state;
        const current = e.epoch === b.snapshot().context.epoch;
        const bad = !e.ok || e.durationMs > config.slowCallMs;
        const isProbe = before === 'halfOpen' && current && o.probesOk < o.probesTaken;
        b.onResult(e.ok, e.durationMs, { epoch: e.epoch! });
        const after = b.state;
        if (!current || before === 'open') assert.is(after, before, 'a straggler or a result while open changes nothing');
        if (before === 'closed' && current) {
          o.calls++;
          if (!e.ok) o.failures++;
          if (e.durationMs > config.slowCallMs) o.slow++;
          o.failuresInRow = e.ok ? 0 : o.failuresInRow + 1;
          const rated = o.calls >= config.minCalls;
          const trips = o.failuresInRow >= config.consecutiveFailures
            || (rated && (o.failures / o.calls >= config.failureRate || o.slow / o.calls >= config.slowCallRate));
          assert.is(after, trips ? 'open' : 'closed', `${o.failuresInRow} failures in a row, ${o.failures} failed and ${o.slow} slow of ${o.calls}`);
        }
        if (before === 'halfOpen') {
          if (!isProbe) assert.is(after, 'halfOpen', 'a result that is not an outstanding probe is ignored');
          else if (bad) assert.is(after, 'open', 'a failed or slow probe re-opens');
          else {
            o.probesOk++;
            assert.is(after, o.probesOk === config.probes ? 'closed' : 'halfOpen', 'closes once every probe succeeded');
          }
        }
      },
      'timer.expired': (step) => {
        const before = o.state;
        clock.advanceTo((step.event as unknown as { at: number }).at);
        assert.is(b.state, before === 'open' ? 'halfOpen' : 'open', 'open half-opens when due; unfinished probes re-open');
      },
    },
  });
  assert.ok(changes.every((c) => ['closed->open', 'open->halfOpen', 'halfOpen->open', 'halfOpen->closed'].includes(c)), changes.join());
  b.stop();
  assert.is(clock.pending, 0, 'stop() clears the timer');
}

const mbt = suite('circuit breaker model');

const paths = model.getShortestPaths();

mbt('the walk reaches every state, both backoffs, and every way of tripping and re-opening', () => {
  const reasons = new Set(paths.map((p) => `${String(p.state.value)}:${p.state.context.reason}`));
  for (const r of ['open:consecutive-failures', 'open:failure-rate', 'open:slow-call-rate', 'halfOpen:open-elapsed',
    'open:probe-failed', 'open:half-open-timeout', 'closed:probes-succeeded']) assert.ok(reasons.has(r), r);
  const openPeriods = new Set(paths.filter((p) => p.state.value === 'open').map((p) => p.state.context.openForMs));
  assert.equal([...openPeriods].sort(), [1_000, 1_500]);
});

mbt('on every generated path the breaker admits, refuses and changes state as the oracle says', () => {
  assert.ok(paths.length > 200, `${paths.length} paths`);
  for (const p of paths) runPath(p);
});

mbt.run();

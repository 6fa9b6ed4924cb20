import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ErrorCode } from '../../src/errors.ts';
import { emptyPaceState, pace, Pacer, peekDelayMs, type PaceConfig } from '../../src/limit/gcra.ts';

const gcra = suite('gcra pacer');

/** Runs (now) reservations through a fresh Pacer, returning each call's sendAt. */
function sendTimes(config: PaceConfig, arrivals: readonly number[]): number[] {
  const p = new Pacer(config);
  return arrivals.map((now) => now + p.reserve(now));
}

gcra('calls arriving together leave exactly windowMs / quota apart', () => {
  // (now, sendAt): 3 calls per minute → one every 20 s.
  const table: Array<[number, number]> = [[0, 0], [0, 20_000], [0, 40_000], [0, 60_000], [5_000, 80_000]];
  const p = new Pacer({ quota: 3, windowMs: 60_000 });
  for (const [now, sendAt] of table) assert.is(now + p.reserve(now), sendAt, `call at ${now}`);
});

gcra('a call after the TAT goes at once and idle time is not banked', () => {
  const p = new Pacer({ quota: 3, windowMs: 60_000 });
  assert.is(p.reserve(0), 0);
  assert.is(p.reserve(200_000), 0);
  // The idle 180 s bought nothing: the next call waits a full interval again.
  assert.is(p.reserve(200_000), 20_000);
  assert.is(p.tatAt, 240_000);
});

gcra('a call arriving between slots waits only the rest of the interval', () => {
  const p = new Pacer({ quota: 10, windowMs: 1_000 });
  assert.is(p.reserve(0), 0);
  assert.is(p.reserve(30), 70);
  assert.is(p.reserve(250), 0);
  assert.is(p.reserve(251), 99);
});

gcra('burst lets that many calls leave together after idle, then spacing resumes', () => {
  const sends = sendTimes({ quota: 4, windowMs: 1_000, burst: 3 }, [0, 0, 0, 0, 0]);
  assert.equal(sends, [0, 0, 0, 250, 500]);
  // After a long idle spell the burst is back, but no bigger than `burst`.
  const p = new Pacer({ quota: 4, windowMs: 1_000, burst: 3 });
  for (let i = 0; i < 5; i++) p.reserve(0);
  const later = [10_000, 10_000, 10_000, 10_000].map((now) => now + p.reserve(now));
  assert.equal(later, [10_000, 10_000, 10_000, 10_250]);
});

gcra('a fractional interval never drifts: the 7th call of 7 per minute lands on the next minute', () => {
  const sends = sendTimes({ quota: 7, windowMs: 60_000 }, Array(15).fill(0));
  assert.is(sends[7], 60_000);
  assert.is(sends[14], 120_000);
  for (let i = 1; i < sends.length; i++) assert.ok(sends[i]! > sends[i - 1]!);
});

gcra('peekDelay reports the wait without taking a slot', () => {
  const p = new Pacer({ quota: 2, windowMs: 1_000 });
  p.reserve(0);
  assert.is(p.peekDelay(100), 400);
  assert.is(p.peekDelay(100), 400);
  assert.is(p.reserve(100), 400);
  assert.is(p.peekDelay(2_000), 0);
});

gcra('the pure form returns the next state and leaves the old one alone', () => {
  const config = { quota: 2, windowMs: 1_000 };
  const a = pace(emptyPaceState, config, 1_000);
  const b = pace(a.state, config, 1_000);
  assert.equal([a.sendAt, a.delayMs, b.sendAt, b.delayMs], [1_000, 0, 1_500, 500]);
  assert.is(peekDelayMs(a.state, config, 1_000), 500);
  assert.equal(emptyPaceState, { anchorAt: 0, slots: 0 });
});

gcra('bad config is rejected with InvalidArgumentError naming the field', () => {
  const bad: PaceConfig[] = [
    { quota: 0, windowMs: 1_000 }, { quota: -1, windowMs: 1_000 }, { quota: Number.NaN, windowMs: 1_000 },
    { quota: 1, windowMs: 0 }, { quota: 1, windowMs: Infinity }, { quota: 1, windowMs: 1_000, burst: 0 },
    { quota: 1, windowMs: 1_000, burst: 1.5 },
  ];
  for (const config of bad) {
    try { new Pacer(config); assert.unreachable(JSON.stringify(config)); }
    catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument); }
  }
  try { new Pacer({ quota: 1, windowMs: 1_000 }).reserve(Number.NaN); assert.unreachable(); }
  catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument); }
});

gcra('no windowMs span ever holds more than quota + burst − 1 calls, whatever the arrivals', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 12 }), fc.integer({ min: 100, max: 60_000 }), fc.integer({ min: 1, max: 4 }),
    fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 60 }),
    (quota, windowMs, burst, gaps) => {
      let now = 0;
      const arrivals = gaps.map((g) => (now += g));
      const sends = sendTimes({ quota, windowMs, burst }, arrivals);
      for (let i = 0; i < sends.length; i++) {
        assert.ok(sends[i]! >= arrivals[i]!, 'never before the call arrived');
        if (i > 0) assert.ok(sends[i]! >= sends[i - 1]!, 'calls leave in arrival order');
        const j = i + quota + burst - 1;
        if (j < sends.length) assert.ok(sends[j]! - sends[i]! >= windowMs, `calls ${i} and ${j} share a window`);
      }
    },
  ), { numRuns: 500 });
});

gcra.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { arrivalRate, ratePerMs, recordArrivals } from '../../src/batch/ewma.ts';

const close = (actual: number, expected: number, tolerance: number, msg?: string): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${msg ?? ''} expected ${expected} ± ${tolerance}, got ${actual}`);

const ewma = suite('arrival rate (time-decayed EWMA)');

ewma('a fresh estimate reads zero', () => {
  assert.is(ratePerMs(arrivalRate(1_000, 5_000), 5_000), 0);
});

ewma('a steady rate converges to that rate', () => {
  let r = arrivalRate(500, 0);
  for (let t = 0; t <= 20_000; t += 10) r = recordArrivals(r, t); // one per 10 ms
  close(ratePerMs(r, 20_000), 0.1, 0.002);
});

ewma('several arrivals in the same millisecond count fully', () => {
  let r = arrivalRate(500, 0);
  for (let t = 0; t <= 20_000; t += 100) r = recordArrivals(r, t, 10); // 10 per 100 ms
  // Read between bursts: right after one the estimate sits count·ln2/(2·halfLife) high, right before one as low.
  close(ratePerMs(r, 20_050), 0.1, 0.002);
  let burst = arrivalRate(500, 0);
  for (let i = 0; i < 10; i++) burst = recordArrivals(burst, 0);
  assert.ok(Number.isFinite(ratePerMs(burst, 0)));
  close(ratePerMs(burst, 0), ratePerMs(recordArrivals(arrivalRate(500, 0), 0, 10), 0), 1e-12);
});

ewma('silence halves the rate every half-life, without any update', () => {
  let r = arrivalRate(1_000, 0);
  for (let t = 0; t <= 10_000; t += 5) r = recordArrivals(r, t);
  const before = ratePerMs(r, 10_000);
  close(ratePerMs(r, 11_000), before / 2, 1e-9);
  close(ratePerMs(r, 12_000), before / 4, 1e-9);
});

ewma('follows a change of rate within a few half-lives', () => {
  let r = arrivalRate(200, 0);
  let t = 0;
  for (; t < 5_000; t += 2) r = recordArrivals(r, t); // 0.5 / ms
  for (; t < 7_000; t += 20) r = recordArrivals(r, t); // then 0.05 / ms for 10 half-lives
  close(ratePerMs(r, t), 0.05, 0.005);
});

ewma('is immutable: recording returns a new value', () => {
  const r = arrivalRate(100, 0);
  const r2 = recordArrivals(r, 10);
  assert.is(r.sum, 0);
  assert.ok(r2.sum > 0);
});

ewma('a clock that steps back neither decays nor rewinds the estimate', () => {
  const r = recordArrivals(arrivalRate(100, 0), 1_000);
  const back = recordArrivals(r, 900);
  assert.is(back.at, 1_000);
  assert.is(back.sum, 2);
});

ewma('rejects a non-positive half-life and negative counts', () => {
  for (const h of [0, -1, Number.NaN, Infinity]) {
    assert.throws(() => arrivalRate(h, 0), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
  }
  assert.throws(() => recordArrivals(arrivalRate(1, 0), 0, -1), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
});

ewma.run();

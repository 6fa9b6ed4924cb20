import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { LatencyWindow } from '../../src/batch/latency-window.ts';

const window = suite('latency window');

window('reads NaN until it has a sample', () => {
  assert.ok(Number.isNaN(new LatencyWindow().quantile(0.99)));
});

window('gives nearest-rank quantiles over the window', () => {
  const w = new LatencyWindow(100);
  for (let ms = 1; ms <= 100; ms++) w.record(ms);
  assert.is(w.quantile(0.99), 99);
  assert.is(w.quantile(0.5), 50);
  assert.is(w.quantile(1), 100);
});

window('forgets the oldest samples once full', () => {
  const w = new LatencyWindow(10);
  for (let i = 0; i < 10; i++) w.record(1_000);
  for (let i = 0; i < 10; i++) w.record(5);
  assert.is(w.count, 10);
  assert.is(w.quantile(0.99), 5);
});

window('a new sample after a read is taken into account', () => {
  const w = new LatencyWindow(10);
  w.record(10);
  assert.is(w.quantile(0.99), 10);
  w.record(20);
  assert.is(w.quantile(0.99), 20);
});

window('ignores samples that are not durations', () => {
  const w = new LatencyWindow(4);
  w.record(-5);
  w.record(Number.NaN);
  assert.is(w.count, 0);
});

window('rejects a bad size or quantile', () => {
  const isInvalid = (e: { code?: string }) => e.code === ErrorCode.InvalidArgument;
  assert.throws(() => new LatencyWindow(0), isInvalid);
  assert.throws(() => new LatencyWindow(10).quantile(0), isInvalid);
  assert.throws(() => new LatencyWindow(10).quantile(1.1), isInvalid);
});

window.run();

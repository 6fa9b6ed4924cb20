import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { quantile, SeriesRing, seriesKey, type Reading } from '../../../src/http/dashboard/series.ts';

const counter = (value: number, labels: Record<string, string> = { target: 't' }): Reading => ({ kind: 'counter', name: 'req_total', labels, value });
const gauge = (value: number): Reading => ({ kind: 'gauge', name: 'in_flight', labels: { replica: 'r1' }, value });
const hist = (counts: number[]): Reading => ({ kind: 'histogram', name: 'dur', labels: {}, bounds: [0.01, 0.1, 1, Infinity], counts });

const column = (ring: SeriesRing, id: string) => ring.window().series.find((s) => s.id === id)?.values;

const series = suite('dashboard series ring');

series('a counter becomes its per-second rate over the interval since the previous sample', () => {
  const ring = new SeriesRing({ points: 10 });
  const id = `${seriesKey('req_total', { target: 't' })}:rate`;
  const first = ring.record(1_000, [counter(5)]);
  assert.is(first.values[id], null, 'no rate from one reading');
  assert.equal(first.added.map((s) => s.stat), ['rate']);
  assert.is(ring.record(2_000, [counter(15)]).values[id], 10);
  assert.is(ring.record(4_000, [counter(25)]).values[id], 5, '10 more over 2 s');
  assert.equal(column(ring, id), [null, 10, 5]);
});

series('a counter that went down was reset: it counted its new value since', () => {
  const ring = new SeriesRing({ points: 10 });
  const id = `${seriesKey('req_total', { target: 't' })}:rate`;
  ring.record(0, [counter(100)]);
  assert.is(ring.record(1_000, [counter(3)]).values[id], 3);
});

series('a gauge is kept as read; a series with no reading in a sample shows null there', () => {
  const ring = new SeriesRing({ points: 10 });
  ring.record(0, [gauge(2)]);
  ring.record(1_000, []);
  ring.record(2_000, [gauge(7)]);
  assert.equal(column(ring, 'in_flight{replica="r1"}'), [2, null, 7]);
  assert.equal(ring.window().t, [0, 1_000, 2_000]);
});

series('the ring keeps the last `points` samples, oldest first', () => {
  const ring = new SeriesRing({ points: 3 });
  for (let i = 0; i < 5; i++) ring.record(i * 1_000, [gauge(i)]);
  const w = ring.window();
  assert.equal(w.t, [2_000, 3_000, 4_000]);
  assert.equal(column(ring, 'in_flight{replica="r1"}'), [2, 3, 4]);
});

series('a series unseen for a whole window is dropped; a new one is announced once and padded with nulls', () => {
  const ring = new SeriesRing({ points: 3 });
  ring.record(0, [gauge(1)]);
  const added = ring.record(1_000, [gauge(1), counter(1)]).added;
  assert.equal(added.map((s) => s.id), ['req_total{target="t"}:rate']);
  assert.equal(ring.record(2_000, [gauge(1), counter(2)]).added, []);
  assert.equal(column(ring, 'req_total{target="t"}:rate'), [null, null, 1]);
  for (let i = 3; i <= 6; i++) ring.record(i * 1_000, [counter(i)]);
  assert.is(column(ring, 'in_flight{replica="r1"}'), undefined);
});

series('a histogram gives the quantiles of what was observed during the interval only', () => {
  const ring = new SeriesRing({ points: 10, quantiles: [0.5, 0.99] });
  ring.record(0, [hist([0, 0, 0, 0])]);
  // 100 observations in (0.01, 0.1]: the median interpolates to the middle of that bucket.
  const p = ring.record(1_000, [hist([0, 100, 100, 100])]).values;
  assert.ok(Math.abs(p['dur:p50']! - 0.055) < 1e-9, String(p['dur:p50']));
  assert.ok(Math.abs(p['dur:p99']! - 0.0991) < 1e-9, String(p['dur:p99']));
  // Then 10 slow ones in (0.1, 1]: the earlier 100 no longer count.
  const q = ring.record(2_000, [hist([0, 100, 110, 110])]).values;
  assert.ok(Math.abs(q['dur:p50']! - 0.55) < 1e-9, String(q['dur:p50']));
  // Nothing observed: no quantile.
  assert.is(ring.record(3_000, [hist([0, 100, 110, 110])]).values['dur:p50'], null);
});

series('quantile follows histogram_quantile: interpolation in the bucket, the highest finite bound in +Inf', () => {
  const bounds = [1, 2, 4, Infinity];
  assert.is(quantile(0.5, bounds, [10, 10, 10, 10]), 0.5);
  assert.is(quantile(0.75, bounds, [0, 4, 8, 8]), 3);
  assert.is(quantile(0.9, bounds, [0, 0, 1, 10]), 4);
  assert.is(quantile(0.5, bounds, [0, 0, 0, 0]), null);
});

series('samples must not go back in time; options are checked', () => {
  const ring = new SeriesRing({ points: 3 });
  ring.record(5_000, []);
  assert.throws(() => ring.record(4_999, []), /back in time/);
  assert.throws(() => new SeriesRing({ points: 1 }), /points/);
  assert.throws(() => new SeriesRing({ quantiles: [1.5] }), /quantiles/);
});

series('a series key does not depend on label order', () => {
  assert.is(seriesKey('m', { b: '2', a: '1' }), seriesKey('m', { a: '1', b: '2' }));
  assert.is(seriesKey('m', {}), 'm');
});

series.run();

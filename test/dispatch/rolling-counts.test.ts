import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { add, emptyRollingCounts, total } from '../../src/dispatch/rolling-counts.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const rolling = suite('rolling counts');

rolling('sums what was added within the window', () => {
  let w = emptyRollingCounts<'calls' | 'failures'>(10_000);
  w = add(w, 1_000, { calls: 1 });
  w = add(w, 1_500, { calls: 1, failures: 1 });
  w = add(w, 9_999, { calls: 1 });
  assert.is(total(w, 9_999, 'calls'), 3);
  assert.is(total(w, 9_999, 'failures'), 1);
});

rolling('forgets a bucket once it is more than a window old', () => {
  let w = emptyRollingCounts<'calls'>(10_000);
  w = add(w, 1_000, { calls: 1 });
  w = add(w, 2_000, { calls: 1 });
  assert.is(total(w, 10_999, 'calls'), 2);
  assert.is(total(w, 11_000, 'calls'), 1, 'the bucket of 1000–1999 left at 11000');
  assert.is(total(w, 12_000, 'calls'), 0);
  w = add(w, 12_000, { calls: 1 });
  assert.equal(w.entries.map((b) => b.startAt), [12_000], 'old buckets are dropped on add');
});

rolling('a late report lands in its own bucket while that is in the window', () => {
  let w = emptyRollingCounts<'calls'>(10_000);
  w = add(w, 5_000, { calls: 1 });
  w = add(w, 3_000, { calls: 1 });
  assert.equal(w.entries.map((b) => b.startAt), [3_000, 5_000]);
  w = add(w, 20_000, { calls: 1 });
  w = add(w, 1_000, { calls: 1 });
  assert.is(total(w, 20_000, 'calls'), 1, 'a report older than the window is dropped');
});

rolling('keeps at most `buckets` buckets and agrees with an exact count to within one bucket', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 200 }), (times) => {
    const sorted = [...times].sort((a, b) => a - b);
    let w = emptyRollingCounts<'calls'>(10_000);
    for (const t of sorted) w = add(w, t, { calls: 1 });
    assert.ok(w.entries.length <= 10);
    const now = sorted.at(-1) ?? 0;
    const exactFull = sorted.filter((t) => t > now - 10_000).length;
    const exactShort = sorted.filter((t) => t >= Math.floor(now / 1_000) * 1_000 - 9_000).length;
    const got = total(w, now, 'calls');
    assert.ok(got <= exactFull && got >= exactShort, `${exactShort} <= ${got} <= ${exactFull}`);
  }), { numRuns: 500 });
});

rolling('refuses a window that is not positive', () => {
  assert.throws(() => emptyRollingCounts(0), (e: unknown) => e instanceof InvalidArgumentError);
});

rolling.run();

import { suite } from './support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../src/clock.ts';

const clock = suite('virtual clock');

clock('fires timers in due order, ties in the order they were set', () => {
  const c = new VirtualClock(1_000);
  const fired: string[] = [];
  c.setTimeout(() => fired.push('b'), 20);
  c.setTimeout(() => fired.push('a'), 10);
  c.setTimeout(() => fired.push('c'), 20);
  c.advance(19);
  assert.equal(fired, ['a']);
  c.advance(1);
  assert.equal(fired, ['a', 'b', 'c']);
  assert.is(c.now(), 1_020);
});

clock('a cleared timer never fires', () => {
  const c = new VirtualClock();
  let fired = false;
  const id = c.setTimeout(() => { fired = true; }, 5);
  c.clearTimeout(id);
  c.advance(10);
  assert.is(fired, false);
  assert.is(c.pending, 0);
});

clock('a timer set while firing runs within the same advance when due', () => {
  const c = new VirtualClock();
  const at: number[] = [];
  c.setTimeout(() => { at.push(c.now()); c.setTimeout(() => at.push(c.now()), 5); }, 5);
  c.advance(10);
  assert.equal(at, [5, 10]);
});

clock.run();

const heapOrder = suite('virtual clock ordering under load');

heapOrder('thousands of timers set in random order fire sorted by time, then by setting order', () => {
  const c = new VirtualClock();
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const fired: Array<[number, number]> = [];
  const ids: unknown[] = [];
  for (let i = 0; i < 5_000; i++) {
    const at = Math.floor(rand() * 1_000);
    ids.push(c.setTimeout(() => fired.push([c.now(), i]), at));
  }
  for (let i = 0; i < 5_000; i += 3) c.clearTimeout(ids[i]);
  c.runAll();
  assert.is(fired.length, 5_000 - Math.ceil(5_000 / 3));
  for (let k = 1; k < fired.length; k++) {
    const [t0, i0] = fired[k - 1]!;
    const [t1, i1] = fired[k]!;
    assert.ok(t0 < t1 || (t0 === t1 && i0 < i1), `out of order at ${k}`);
  }
  assert.is(c.pending, 0);
});

heapOrder.run();

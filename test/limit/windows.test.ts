import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { asNodeId } from '../../src/crdt/node-id.ts';
import { isRetained, windowEndAt, windowIdAt, windowStartAt, WindowedCounters } from '../../src/limit/windows.ts';

const windows = suite('windows');

const MIN = 60_000;
const T = 1_700_000_040_000; // a window boundary: T % MIN === 0
const W = T / MIN;
const a = asNodeId('a');
const b = asNodeId('b');

windows('a window id is floor(epoch ms / windowMs), the same on every node', () => {
  const table: [now: number, id: number, endsAt: number][] = [
    [T, W, T + MIN],
    [T + MIN - 1, W, T + MIN],
    [T + MIN, W + 1, T + 2 * MIN],
    [T - 1, W - 1, T],
  ];
  for (const [now, id, endsAt] of table) {
    assert.is(windowIdAt(now, MIN), id, `id at ${now}`);
    assert.is(windowEndAt(id, MIN), endsAt);
    assert.is(windowStartAt(id, MIN), endsAt - MIN);
  }
});

windows('the previous, current and next windows are retained, nothing further', () => {
  const now = T + 10;
  assert.equal([W - 2, W - 1, W, W + 1, W + 2].map((id) => isRetained(id, now, MIN)), [false, true, true, true, false]);
});

windows('counts add per window and key, and refunds subtract', () => {
  const c = new WindowedCounters(a, MIN);
  c.add(W, 'k', 5);
  c.add(W, 'k', 2);
  c.add(W, 'other', 1);
  c.add(W + 1, 'k', 9);
  c.subtract(W, 'k', 3);
  assert.is(c.value(W, 'k'), 4);
  assert.is(c.valueAt(W, 'k', a), 4);
  assert.is(c.value(W, 'other'), 1);
  assert.is(c.value(W + 1, 'k'), 9);
  assert.is(c.value(W, 'never'), 0);
});

windows('a delta holds only the changes since the last one', () => {
  const c = new WindowedCounters(a, MIN);
  c.add(W, 'k', 5);
  assert.equal(c.takeDelta(T), { [W]: { k: { p: { a: 5 } } } });
  assert.equal(c.takeDelta(T), {});
  c.add(W, 'k', 1);
  c.subtract(W, 'k', 2);
  assert.equal(c.takeDelta(T), { [W]: { k: { p: { a: 6 }, n: { a: 2 } } } });
});

windows('merging a peer full state adds its entries without double counting', () => {
  const x = new WindowedCounters(a, MIN);
  const y = new WindowedCounters(b, MIN);
  x.add(W, 'k', 3);
  y.add(W, 'k', 4);
  y.mergeEncoded(x.takeDelta(T), T);
  const report = x.mergeEncoded(JSON.parse(JSON.stringify(y.fullState(T))), T);
  assert.equal(report, { counters: 1, malformed: 0, outOfRange: 0 });
  x.mergeEncoded(y.fullState(T), T);
  assert.is(x.value(W, 'k'), 7);
  assert.is(y.value(W, 'k'), 7);
  assert.is(x.valueAt(W, 'k', b), 4);
  // Merged entries are not this node's changes: they are not gossiped again as its delta.
  assert.equal(x.takeDelta(T), {});
});

windows('unreadable parts of a message are skipped and counted, the rest is merged', () => {
  const c = new WindowedCounters(a, MIN);
  const report = c.mergeEncoded({
    [W]: { good: { p: { b: 2 } }, bad: { p: { b: -1 } }, worse: 'x' },
    'not-a-window': { k: { p: { b: 1 } } },
    [W - 1]: [],
    [W - 5]: { k: { p: { b: 1 } } },
    [W + 9]: { k: { p: { b: 1 } } },
  }, T);
  assert.equal(report, { counters: 1, malformed: 4, outOfRange: 2 });
  assert.is(c.value(W, 'good'), 2);
  assert.equal(c.windowIds(), [W]);
  assert.equal(c.mergeEncoded(null, T), { counters: 0, malformed: 1, outOfRange: 0 });
});

windows('a window is forgotten once it is two windows old, and its pending delta with it', () => {
  const c = new WindowedCounters(a, MIN);
  c.add(W, 'k', 5);
  c.prune(T + MIN);
  assert.is(c.value(W, 'k'), 5, 'kept while it is the previous window');
  c.prune(T + 2 * MIN);
  assert.is(c.value(W, 'k'), 0);
  assert.equal(c.windowIds(), []);
  assert.equal(c.takeDelta(T + 2 * MIN), {});
});

windows('a client key named __proto__ is an ordinary key on the wire', () => {
  const x = new WindowedCounters(a, MIN);
  x.add(W, '__proto__', 2);
  const y = new WindowedCounters(b, MIN);
  y.mergeEncoded(JSON.parse(JSON.stringify(x.takeDelta(T))), T);
  assert.is(y.value(W, '__proto__'), 2);
});

windows.run();

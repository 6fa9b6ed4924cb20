import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { HotKeys } from '../../src/cluster/hot-keys.ts';

const hot = suite('hot keys');

hot('a key is hot from its second sighting within the window, and cools after a gap longer than it', () => {
  const h = new HotKeys({ threshold: 2, windowMs: 1_000, capacity: 10 });
  assert.is(h.touch('k', 0), false);
  assert.is(h.touch('k', 999), true);
  assert.is(h.touch('k', 1_998), true, 'each sighting extends the window');
  assert.is(h.touch('k', 3_000), false, 'a gap over windowMs starts again');
  assert.is(h.touch('other', 3_000), false);
});

hot('past capacity the least recently seen key is forgotten', () => {
  const h = new HotKeys({ threshold: 2, windowMs: 1_000, capacity: 2 });
  h.touch('a', 0); h.touch('b', 1); h.touch('a', 2); // a is now the most recent
  h.touch('c', 3); // evicts b
  assert.is(h.size, 2);
  assert.is(h.touch('b', 4), false, 'b was forgotten');
  assert.is(h.touch('c', 5), true);
});

hot.run();

// Lists cut into parts by JSON size (src/bus/message-parts.ts): every part under the budget, the parts
// in order make the list again, an item too large for any part goes alone. Sizes are measured here
// with JSON.stringify of the whole part, apart from the module's own per-item count.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { fitsInPart, splitByChars } from '../../src/bus/message-parts.ts';

const parts = suite('splitByChars');

parts('every part of many items is at most the budget, and the parts join to the input', () => {
  fc.assert(fc.property(fc.array(fc.record({ key: fc.string({ maxLength: 60 }), n: fc.nat() }), { maxLength: 300 }), fc.integer({ min: 50, max: 2_000 }), (items, max) => {
    const out = splitByChars(items, max);
    assert.equal(out.flat(), items);
    for (const p of out) {
      assert.ok(p.length > 0 || items.length === 0, 'no empty part');
      if (p.length > 1) assert.ok(JSON.stringify(p).length <= max, `a part of ${JSON.stringify(p).length} > ${max}`);
    }
  }));
});

parts('one oversized item goes alone, between parts of the others', () => {
  const big = { key: 'x'.repeat(500) };
  const small = (i: number) => ({ key: `k${i}` });
  const out = splitByChars([small(1), small(2), big, small(3)], 100);
  assert.equal(out, [[small(1), small(2)], [big], [small(3)]]);
});

parts('a list that fits is one part; an empty list is one empty part', () => {
  assert.equal(splitByChars([1, 2, 3], 1_000), [[1, 2, 3]]);
  assert.equal(splitByChars([], 1_000), [[]]);
});

parts('fitsInPart counts from an offset and takes at least one item', () => {
  const items = ['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(10)];
  // Each item is 12 characters of JSON and its comma; with the brackets, two fit 30.
  assert.is(fitsInPart(items, 30), 2);
  assert.is(fitsInPart(items, 30, 2), 1);
  assert.is(fitsInPart(items, 5), 1);
  assert.is(fitsInPart(items, 30, 3), 0);
});

parts.run();

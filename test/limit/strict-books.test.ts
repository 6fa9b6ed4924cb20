// Book entries measured without stringifying them (src/limit/strict-books.ts, entryChars): the count
// must be exactly what JSON.stringify gives, or parts cut by it could pass the bus's largest message.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { entryChars, type BookEntry } from '../../src/limit/strict-books.ts';

const books = suite('strict book entries');

books('entryChars is the JSON length of the entry and its comma, for any key and node text', () => {
  const text = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.constantFrom('t/rps/"q"', 'a\\b', '\u0000\u001f', '\ud800', 'é—😀'));
  const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
  fc.assert(fc.property(text, text, fc.integer({ min: -1e15, max: 1e15 }), count, fc.integer({ min: 1, max: 1e12 }), count, count, (key, node, windowId, limit, windowMs, received, returned) => {
    const e: BookEntry = { key, windowId, limit, windowMs, node, received, returned };
    assert.is(entryChars(e), JSON.stringify(e).length + 1, JSON.stringify(e));
  }), { numRuns: 2_000 });
});

books.run();

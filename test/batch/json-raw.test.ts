import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { arrayElements, objectMembers, parseJson } from '../../src/batch/json-raw.ts';

const raw = suite('raw JSON splitting');

raw('each array element parses back to the value JSON.parse sees (property)', () => {
  fc.assert(fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 6 }), fc.constantFrom(0, 2), (values, indent) => {
    const text = JSON.stringify(values, null, indent);
    const elements = arrayElements(text);
    assert.is(elements.length, values.length);
    elements.forEach((e, i) => assert.equal(JSON.parse(e), JSON.parse(JSON.stringify(values[i]))));
  }), { numRuns: 1_000 });
});

raw('each object member parses back to the value JSON.parse sees (property)', () => {
  fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }), (obj) => {
    const text = JSON.stringify(obj, null, 1);
    const members = objectMembers(text);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    assert.equal([...members.keys()].sort(), Object.keys(parsed).sort());
    for (const [k, v] of members) assert.equal(JSON.parse(v), parsed[k]);
  }), { numRuns: 1_000 });
});

raw('empty containers have no elements', () => {
  assert.equal(arrayElements('[ ]'), []);
  assert.is(objectMembers('{\n}').size, 0);
});

raw('parseJson strips a BOM and surrounding whitespace, and says why it fails', () => {
  const ok = parseJson(Buffer.from('\ufeff  [1] \n'));
  assert.ok(ok.ok && ok.text === '[1]');
  const bad = parseJson(Buffer.from('[1,'));
  assert.ok(!bad.ok && bad.reason.startsWith('is not valid JSON'));
  const empty = parseJson(Buffer.from('  '));
  assert.ok(!empty.ok && empty.reason.includes('empty'));
});

raw.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { decodeVariants, encodeVariants } from '../../src/cache/index.ts';
import { request, stored } from './cache-fixtures.ts';

const wire = suite('cache entries on the wire (JetStream tier)');

wire('variants survive a round trip, binary bodies included', () => {
  const a = stored({ 'cache-control': 'max-age=60', vary: 'accept' }, { req: request({ headers: { accept: 'a' } }), body: 'one' });
  const b = { ...stored({ 'cache-control': 'max-age=60', vary: 'accept' }, { req: request({ headers: { accept: 'b' } }) }), body: new Uint8Array([0, 255, 10, 13]) };
  const back = decodeVariants(encodeVariants([a, b]));
  assert.ok(back);
  assert.equal(back!.map((e) => [...e.body]), [[...Buffer.from('one')], [0, 255, 10, 13]]);
  const heads = (es: readonly { body: unknown }[]) => JSON.parse(JSON.stringify(es.map(({ body: _b, ...rest }) => rest)));
  assert.equal(heads(back!), heads([a, b]));
});

wire('anything malformed decodes to null, never throws', () => {
  const good = encodeVariants([stored({ 'cache-control': 'max-age=60' })]);
  for (const bad of [new Uint8Array(0), new Uint8Array([0, 0, 0, 9, 1]), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from('x')]),
    Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{}')])]) {
    assert.is(decodeVariants(bad), null);
  }
});

wire.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { coalesceKey, mergeKey } from '../../src/batch/batch-key.ts';
import type { HeaderBag, KeyedRequest } from '../../src/batch/batch-key.ts';

const base: KeyedRequest = { method: 'GET', path: '/v1/items', query: 'a=1', headers: { authorization: 'Bearer alice', accept: 'application/json' } };
const withHeaders = (headers: HeaderBag): KeyedRequest => ({ ...base, headers });

const key = suite('coalesce key');

key('different Authorization values give different keys', () => {
  assert.is.not(
    coalesceKey(withHeaders({ authorization: 'Bearer alice' })),
    coalesceKey(withHeaders({ authorization: 'Bearer bob' })),
  );
});

key('different cookies give different keys, and no credentials differs from empty ones', () => {
  assert.is.not(coalesceKey(withHeaders({ cookie: 'sid=1' })), coalesceKey(withHeaders({ cookie: 'sid=2' })));
  assert.is.not(coalesceKey(withHeaders({})), coalesceKey(withHeaders({ authorization: '' })));
});

key('a public target ignores credentials but still honours vary headers', () => {
  const opts = { public: true, vary: ['accept'] };
  assert.is(
    coalesceKey(withHeaders({ authorization: 'Bearer alice', cookie: 'a', accept: 'text/html' }), opts),
    coalesceKey(withHeaders({ authorization: 'Bearer bob', accept: 'text/html' }), opts),
  );
  assert.is.not(
    coalesceKey(withHeaders({ accept: 'text/html' }), opts),
    coalesceKey(withHeaders({ accept: 'application/json' }), opts),
  );
});

key('a vary header changes the key; a header not in vary does not', () => {
  const opts = { vary: ['Accept-Language'] };
  assert.is.not(
    coalesceKey(withHeaders({ 'accept-language': 'en' }), opts),
    coalesceKey(withHeaders({ 'accept-language': 'fr' }), opts),
  );
  assert.is(
    coalesceKey(withHeaders({ 'accept-language': 'en', 'x-trace': '1' }), opts),
    coalesceKey(withHeaders({ 'accept-language': 'en', 'x-trace': '2' }), opts),
  );
});

key('header name case and header order do not matter', () => {
  const opts = { vary: ['ACCEPT'] };
  assert.is(
    coalesceKey(withHeaders({ Authorization: 'Bearer a', Accept: 'x', 'X-Other': '1' }), opts),
    coalesceKey(withHeaders({ 'x-other': '2', accept: 'x', authorization: 'Bearer a' }), opts),
  );
  assert.is(coalesceKey(base, { vary: ['accept', 'Accept'] }), coalesceKey(base, { vary: ['ACCEPT'] }));
});

key('method, path, query and body each separate requests', () => {
  const k = coalesceKey(base);
  assert.is.not(coalesceKey({ ...base, method: 'HEAD' }), k);
  assert.is(coalesceKey({ ...base, method: 'get' }), k, 'method case does not matter');
  assert.is.not(coalesceKey({ ...base, path: '/v1/other' }), k);
  assert.is.not(coalesceKey({ ...base, query: 'a=2' }), k);
  assert.is(coalesceKey({ ...base, query: '?a=1' }), k, 'a leading ? does not matter');
  assert.is(coalesceKey({ ...base, query: '?' }), coalesceKey({ ...base, query: undefined }), 'no query is an empty query');
  assert.is.not(coalesceKey({ ...base, body: Buffer.from('{"q":1}') }), coalesceKey({ ...base, body: Buffer.from('{"q":2}') }));
  assert.is(coalesceKey({ ...base, body: Buffer.alloc(0) }), k, 'an empty body is no body');
});

key('parts cannot collide by concatenation', () => {
  assert.is.not(coalesceKey({ ...base, path: '/a', query: 'b' }), coalesceKey({ ...base, path: '/ab', query: '' }));
  assert.is.not(coalesceKey({ ...base, path: '/a"', query: '' }), coalesceKey({ ...base, path: '/a', query: '"' }));
  const opts = { vary: ['x-a', 'x-b'] };
  assert.is.not(
    coalesceKey(withHeaders({ 'x-a': '1,2' }), opts),
    coalesceKey(withHeaders({ 'x-a': '1', 'x-b': '2' }), opts),
  );
});

key('keys are short whatever the headers hold', () => {
  const k = coalesceKey(withHeaders({ authorization: 'x'.repeat(100_000) }));
  assert.ok(k.length <= 64);
});

key('a digested key can never equal a raw one: raw keys are JSON arrays, digests never hold a [', () => {
  const raw = coalesceKey(withHeaders({ authorization: 'short' }));
  const digested = coalesceKey(withHeaders({ authorization: 'y'.repeat(1_000) }));
  assert.ok(raw.startsWith('['), raw);
  assert.not.ok(digested.includes('['), digested);
});

key('requests differing in any keyed part get different keys (property)', () => {
  const text = fc.string({ maxLength: 6 });
  const req = fc.record({
    method: fc.constantFrom('GET', 'HEAD'),
    path: text.map((s) => '/' + s),
    query: text,
    headers: fc.record({ authorization: fc.option(text, { nil: undefined }), accept: fc.option(text, { nil: undefined }) }),
  });
  // Equal keys exactly when the normalised parts are equal.
  const normal = (r: KeyedRequest): string => JSON.stringify([
    r.method, r.path, r.query?.replace(/^\?/, ''), r.headers['authorization'] ?? null, r.headers['accept'] ?? null,
  ]);
  fc.assert(fc.property(req, req, (a, b) => {
    const same = coalesceKey(a, { vary: ['accept'] }) === coalesceKey(b, { vary: ['accept'] });
    return same === (normal(a) === normal(b));
  }), { numRuns: 2_000 });
});

key('shuffling and re-casing header names never changes the key (property)', () => {
  const entry = fc.tuple(fc.constantFrom('authorization', 'cookie', 'accept', 'x-other'), fc.string({ maxLength: 4 }));
  fc.assert(fc.property(fc.uniqueArray(entry, { selector: ([n]) => n }), fc.infiniteStream(fc.boolean()), (entries, flips) => {
    const shuffled = [...entries].reverse().map(([n, v]) => [flips.next().value ? n.toUpperCase() : n, v] as const);
    return coalesceKey(withHeaders(Object.fromEntries(entries)), { vary: ['accept'] }) ===
      coalesceKey(withHeaders(Object.fromEntries(shuffled)), { vary: ['accept'] });
  }), { numRuns: 1_000 });
});

key.run();

const merge = suite('merge key');

merge('keeps credentials apart unless public', () => {
  const a = { ...base, headers: { authorization: 'Bearer alice' } };
  const b = { ...base, headers: { authorization: 'Bearer bob' } };
  assert.is.not(mergeKey(a), mergeKey(b));
  assert.is(mergeKey(a, { public: true }), mergeKey(b, { public: true }));
});

merge('ignores bodies: distinct requests to the same endpoint share a key', () => {
  const a = { ...base, method: 'POST', body: Buffer.from('[1]') };
  const b = { ...base, method: 'POST', body: Buffer.from('[2]') };
  assert.is(mergeKey(a), mergeKey(b));
  assert.is.not(coalesceKey(a), coalesceKey(b));
});

merge('never equals the coalesce key of the same request', () => {
  assert.is.not(mergeKey(base), coalesceKey(base));
});

merge('separates paths and methods', () => {
  assert.is.not(mergeKey({ ...base, path: '/x' }), mergeKey({ ...base, path: '/y' }));
  assert.is.not(mergeKey({ ...base, method: 'POST' }), mergeKey({ ...base, method: 'PUT' }));
});

merge.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { lookup, servedHeaders, staleIfError } from '../../src/cache/index.ts';
import { at, request, rules, S, stored, T0 } from './cache-fixtures.ts';

const req = suite('cache request directives (RFC 9111 §5.2.1)');
const e60 = () => stored({ 'cache-control': 'max-age=60', etag: '"v1"' });

req('no-cache in the request goes upstream with the entry\'s validators', () => {
  const l = at(e60(), 1 * S, { 'cache-control': 'no-cache' });
  assert.equal(l.type === 'validate' && [l.fwd, l.conditional], ['request', { 'if-none-match': '"v1"' }]);
});

req('Pragma: no-cache counts only when the request has no Cache-Control', () => {
  assert.is(at(e60(), 1 * S, { pragma: 'no-cache' }).type, 'validate');
  assert.is(at(e60(), 1 * S, { pragma: 'no-cache', 'cache-control': 'max-stale' }).type, 'hit');
});

req('max-age in the request refuses an older answer', () => {
  assert.is(at(e60(), 10 * S, { 'cache-control': 'max-age=5' }).type, 'validate');
  assert.is(at(e60(), 4 * S, { 'cache-control': 'max-age=5' }).type, 'hit');
});

req('min-fresh refuses an answer fresh for less than asked', () => {
  assert.is(at(e60(), 50 * S, { 'cache-control': 'min-fresh=20' }).type, 'validate');
  assert.is(at(e60(), 30 * S, { 'cache-control': 'min-fresh=20' }).type, 'hit');
});

req('max-stale accepts a stale answer, with or without a bound', () => {
  assert.is(at(e60(), 90 * S, { 'cache-control': 'max-stale' }).type, 'stale-hit');
  assert.is(at(e60(), 90 * S, { 'cache-control': 'max-stale=40' }).type, 'stale-hit');
  assert.is(at(e60(), 90 * S, { 'cache-control': 'max-stale=20' }).type, 'validate');
});

req('only-if-cached answers from the cache or not at all', () => {
  assert.is(at(e60(), 10 * S, { 'cache-control': 'only-if-cached' }).type, 'hit');
  assert.is(at(e60(), 90 * S, { 'cache-control': 'only-if-cached' }).type, 'unavailable');
  assert.is(lookup([], request({ headers: { 'cache-control': 'only-if-cached' } }), T0).type, 'unavailable');
});

req('nothing stored is a uri-miss', () => {
  assert.equal(lookup([], request(), T0), { type: 'miss', fwd: 'uri-miss' });
});

req.run();

const vary = suite('cache Vary secondary keys (RFC 9111 §4.1)');

vary('an answer with Vary serves only requests with the same values of those headers', () => {
  const e = stored({ 'cache-control': 'max-age=60', vary: 'Accept-Language' }, { req: request({ headers: { 'accept-language': 'en' } }) });
  assert.is(at(e, S, { 'accept-language': 'en' }).type, 'hit');
  assert.equal(at(e, S, { 'accept-language': 'fr' }), { type: 'miss', fwd: 'vary-miss' });
  assert.equal(at(e, S, {}), { type: 'miss', fwd: 'vary-miss' });
});

vary('among several variants the matching one is served', () => {
  const en = stored({ 'cache-control': 'max-age=60', vary: 'accept-language' }, { req: request({ headers: { 'accept-language': 'en' } }), body: 'hello' });
  const fr = stored({ 'cache-control': 'max-age=60', vary: 'accept-language' }, { req: request({ headers: { 'accept-language': 'fr' } }), body: 'bonjour' });
  const l = lookup([en, fr], request({ headers: { 'accept-language': 'fr' } }), T0 + S);
  assert.is(l.type === 'hit' && Buffer.from(l.entry.body).toString(), 'bonjour');
});

vary.run();

const stale = suite('cache stale-while-revalidate and stale-if-error (RFC 5861)');

stale('within stale-while-revalidate a stale answer is served and revalidated in the background', () => {
  const e = stored({ 'cache-control': 'max-age=10, stale-while-revalidate=30', etag: '"v1"' });
  const l = at(e, 20 * S);
  assert.is(l.type, 'stale-while-revalidate');
  assert.equal(l.type === 'stale-while-revalidate' && [l.ttlMs, l.conditional], [-10 * S, { 'if-none-match': '"v1"' }]);
  assert.is(at(e, 41 * S).type, 'validate');
});

stale('staleWhileRevalidateMs grants the window when the upstream gives none', () => {
  const e = stored({ 'cache-control': 'max-age=10' }, { rules: rules({ staleWhileRevalidateMs: 5_000 }) });
  assert.is(at(e, 14 * S).type, 'stale-while-revalidate');
  assert.is(at(e, 16 * S).type, 'validate');
});

stale('stale-if-error serves a stale answer when the upstream fails, within its window only', () => {
  const e = stored({ 'cache-control': 'max-age=10, stale-if-error=30' });
  const r = request();
  assert.is(staleIfError(e, r, T0 + 35 * S), true);
  assert.is(staleIfError(e, r, T0 + 45 * S), false);
});

stale('the request\'s stale-if-error and staleIfErrorMs widen the window; must-revalidate closes it', () => {
  const e = stored({ 'cache-control': 'max-age=10' });
  assert.is(staleIfError(e, request(), T0 + 20 * S), false);
  assert.is(staleIfError(e, request({ headers: { 'cache-control': 'stale-if-error=30' } }), T0 + 20 * S), true);
  const op = stored({ 'cache-control': 'max-age=10' }, { rules: rules({ staleIfErrorMs: 30_000 }) });
  assert.is(staleIfError(op, request(), T0 + 20 * S), true);
  const must = stored({ 'cache-control': 'max-age=10, must-revalidate, stale-if-error=60' });
  assert.is(staleIfError(must, request(), T0 + 20 * S), false);
});

stale.run();

const age = suite('cache Age header');

age('a served answer carries its age in whole seconds, the upstream\'s Age included', () => {
  const e = stored({ 'cache-control': 'max-age=600', age: '100' });
  assert.is(servedHeaders(e, T0 + 42_500).age, '142');
  assert.is(servedHeaders(stored({ 'cache-control': 'max-age=60' }), T0 + 1_999).age, '1');
});

age.run();

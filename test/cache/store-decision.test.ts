import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { NotStored } from '../../src/cache/index.ts';
import { at, httpDate, request, rules, S, store, stored, T0 } from './cache-fixtures.ts';

const fresh = suite('cache freshness (RFC 9111 §4.2)');

fresh('s-maxage wins over max-age and Expires in a shared cache', () => {
  const e = stored({ 'cache-control': 'max-age=10, s-maxage=60', expires: httpDate(T0 + 5 * S) });
  assert.is(at(e, 59 * S).type, 'hit');
  assert.is(at(e, 61 * S).type, 'validate');
});

fresh('max-age wins over Expires', () => {
  const e = stored({ 'cache-control': 'max-age=30', expires: httpDate(T0 + 300 * S) });
  assert.is(at(e, 29 * S).type, 'hit');
  assert.is(at(e, 31 * S).type, 'validate');
});

fresh('Expires counts from the answer\'s Date', () => {
  // Lifetime = Expires − Date (RFC 9111 §4.2.1), measured against the entry's age.
  const e = stored({ date: httpDate(T0), expires: httpDate(T0 + 50 * S) });
  assert.is(at(e, 49 * S).type, 'hit');
  assert.is(at(e, 51 * S).type, 'validate');
});

fresh('an Expires in the past or invalid is already stale', () => {
  const e = stored({ expires: '0', etag: '"v1"' });
  assert.is(at(e, 0).type, 'validate');
});

fresh('heuristic freshness is 10% of the time since Last-Modified when nothing explicit is given', () => {
  const lastModified = T0 - 10 * 86_400 * S; // ten days before Date
  const e = stored({ 'last-modified': httpDate(lastModified) });
  const lifetime = (T0 - lastModified) / 10;
  assert.is(at(e, lifetime - S).type, 'hit');
  assert.is(at(e, lifetime + S).type, 'validate');
});

fresh('no heuristic for a status not cacheable by default (302 without explicit freshness is not stored)', () => {
  const d = store({ 'last-modified': httpDate(T0 - 86_400 * S), location: '/x' }, { status: 302 });
  assert.is(d.store, false);
});

fresh('an answer with no freshness, no validator and no stale window is not kept', () => {
  const d = store({});
  assert.equal(d, { store: false, reason: NotStored.NothingToKeep });
});

fresh('the upstream Age counts against the lifetime', () => {
  const e = stored({ 'cache-control': 'max-age=60', age: '50' });
  assert.is(at(e, 9 * S).type, 'hit');
  assert.is(at(e, 11 * S).type, 'validate');
});

fresh.run();

const directives = suite('cache response directives (RFC 9111 §5.2.2)');

directives('no-store in the answer is never stored', () => {
  assert.equal(store({ 'cache-control': 'no-store, max-age=60' }), { store: false, reason: NotStored.NoStore });
});

directives('no-store in the request stores nothing', () => {
  const d = store({ 'cache-control': 'max-age=60' }, { req: request({ headers: { 'cache-control': 'no-store' } }) });
  assert.equal(d, { store: false, reason: NotStored.RequestNoStore });
});

directives('private is never stored by a shared cache', () => {
  assert.equal(store({ 'cache-control': 'private, max-age=60' }), { store: false, reason: NotStored.Private });
});

directives('no-cache is stored but validated on every use', () => {
  const e = stored({ 'cache-control': 'no-cache, max-age=60', etag: '"v1"' });
  const l = at(e, 1 * S);
  assert.is(l.type, 'validate');
  if (l.type === 'validate') assert.equal(l.conditional, { 'if-none-match': '"v1"' });
});

directives('must-revalidate serves while fresh and forbids every stale use once stale', () => {
  const e = stored({ 'cache-control': 'max-age=10, must-revalidate, stale-while-revalidate=60, stale-if-error=60' });
  assert.is(at(e, 5 * S).type, 'hit');
  assert.is(at(e, 15 * S).type, 'validate');
  assert.is(at(e, 15 * S, { 'cache-control': 'max-stale' }).type, 'validate');
});

directives('proxy-revalidate keeps its max-age for a shared cache and then acts as must-revalidate', () => {
  const e = stored({ 'cache-control': 'max-age=10, proxy-revalidate, stale-while-revalidate=60' });
  assert.is(at(e, 5 * S).type, 'hit');
  assert.is(at(e, 15 * S).type, 'validate');
});

directives('a request with Authorization is stored only when the answer allows it (public, s-maxage, must-revalidate)', () => {
  const auth = request({ headers: { authorization: 'Bearer alice' } });
  assert.equal(store({ 'cache-control': 'max-age=60' }, { req: auth }), { store: false, reason: NotStored.Authorization });
  for (const cc of ['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate']) {
    assert.is(store({ 'cache-control': cc }, { req: auth }).store, true, cc);
  }
});

directives('Vary: * is never stored', () => {
  assert.equal(store({ 'cache-control': 'max-age=60', vary: '*' }), { store: false, reason: NotStored.VaryStar });
});

directives('hop-by-hop headers are not stored', () => {
  const e = stored({ 'cache-control': 'max-age=60', connection: 'close', 'keep-alive': 'timeout=5', 'content-type': 'text/plain' });
  assert.is(e.headers['connection'], undefined);
  assert.is(e.headers['keep-alive'], undefined);
  assert.is(e.headers['content-type'], 'text/plain');
});

directives.run();

const overrides = suite('cache overrides (ttlMs, upstreamHeaders, methods)');

overrides('ttlMs gives freshness to an answer that states none', () => {
  const e = stored({}, { rules: rules({ ttlMs: 5_000 }) });
  assert.is(at(e, 4_999).type, 'hit');
  assert.is(at(e, 5_001).type, 'validate');
});

overrides('ttlMs replaces the Last-Modified heuristic but never explicit freshness or no-cache', () => {
  const r = rules({ ttlMs: 5_000 });
  const heuristic = stored({ 'last-modified': httpDate(T0 - 100 * 86_400 * S) }, { rules: r });
  assert.is(at(heuristic, 6 * S).type, 'validate');
  const explicit = stored({ 'cache-control': 'max-age=60' }, { rules: r });
  assert.is(at(explicit, 30 * S).type, 'hit');
  const noCache = stored({ 'cache-control': 'no-cache', etag: '"a"' }, { rules: r });
  assert.is(at(noCache, 1).type, 'validate');
});

overrides('upstreamHeaders ignore: fresh for ttlMs whatever the upstream says', () => {
  const r = rules({ upstreamHeaders: 'ignore', ttlMs: 60_000 });
  for (const cc of ['no-store', 'no-cache', 'max-age=0', 'max-age=0, must-revalidate', 's-maxage=1']) {
    const e = stored({ 'cache-control': cc, expires: '0', pragma: 'no-cache' }, { rules: r });
    assert.is(at(e, 59 * S).type, 'hit', cc);
    assert.is(at(e, 61 * S).type, 'validate', cc);
  }
});

overrides('upstreamHeaders ignore still stores only statuses cacheable by default (never a 500)', () => {
  const r = rules({ upstreamHeaders: 'ignore', ttlMs: 60_000 });
  assert.equal(store({}, { rules: r, status: 500 }), { store: false, reason: NotStored.Status });
  assert.is(store({}, { rules: r, status: 404 }).store, true);
});

overrides('a method not in cache.methods is not stored; POST is when listed and ignoring headers', () => {
  const post = request({ method: 'POST', url: '/v1/chat', body: '{"q":1}' });
  assert.equal(store({ 'cache-control': 'max-age=60' }, { req: post }), { store: false, reason: NotStored.Method });
  const r = rules({ methods: ['GET', 'POST'], upstreamHeaders: 'ignore', ttlMs: 60_000 });
  assert.is(store({ 'cache-control': 'no-cache' }, { req: post, rules: r }).store, true);
});

overrides('POST under respect needs explicit freshness, as RFC 9110 §9.3.3 says', () => {
  const post = request({ method: 'POST', url: '/v1/chat', body: '{"q":1}' });
  const r = rules({ methods: ['GET', 'POST'], ttlMs: 60_000 });
  assert.is(store({}, { req: post, rules: r }).store, false);
  assert.is(store({ 'cache-control': 'max-age=60' }, { req: post, rules: r }).store, true);
});

overrides('staleWhileRevalidateMs and staleIfErrorMs widen what the upstream grants', () => {
  const e = stored({ 'cache-control': 'max-age=10' }, { rules: rules({ staleWhileRevalidateMs: 20_000, staleIfErrorMs: 40_000 }) });
  assert.is(e.staleWhileRevalidateMs, 20_000);
  assert.is(e.staleIfErrorMs, 40_000);
  const wider = stored({ 'cache-control': 'max-age=10, stale-while-revalidate=60' }, { rules: rules({ staleWhileRevalidateMs: 20_000 }) });
  assert.is(wider.staleWhileRevalidateMs, 60_000);
});

overrides.run();

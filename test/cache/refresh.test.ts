import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { conditionalHeaders, refreshWith304 } from '../../src/cache/index.ts';
import { at, httpDate, request, rules, S, stored, T0 } from './cache-fixtures.ts';

const rv = suite('cache validation (RFC 9111 §4.3)');

rv('a stale entry with an ETag is validated with If-None-Match; with Last-Modified, If-Modified-Since', () => {
  const lm = httpDate(T0 - 86_400 * S);
  assert.equal(conditionalHeaders(stored({ 'cache-control': 'max-age=1', etag: '"v1"' }), request(), T0 + 5 * S), { 'if-none-match': '"v1"' });
  assert.equal(conditionalHeaders(stored({ 'cache-control': 'max-age=1', 'last-modified': lm }), request(), T0 + 5 * S), { 'if-modified-since': lm });
});

rv('the client\'s own conditionals never leak into the shared validation', () => {
  const e = stored({ 'cache-control': 'max-age=1', etag: '"v1"' });
  assert.equal(conditionalHeaders(e, request({ headers: { 'if-none-match': '"client"' } }), T0 + 5 * S), { 'if-none-match': '"v1"' });
});

rv('a matching 304 refreshes the stored headers and restarts freshness, keeping the body', () => {
  const e = stored({ 'cache-control': 'max-age=10', etag: '"v1"', 'x-gen': '1', 'content-length': '6' }, { body: 'answer' });
  const r = refreshWith304(e, request(), { etag: '"v1"', 'cache-control': 'max-age=100', 'x-gen': '2', 'content-length': '0' }, T0 + 20 * S, rules());
  assert.is(r.type, 'refreshed');
  if (r.type !== 'refreshed') return;
  assert.is(Buffer.from(r.entry.body).toString(), 'answer');
  assert.is(r.entry.headers['x-gen'], '2');
  assert.is(r.entry.headers['content-length'], '6');
  assert.is(at(r.entry, 20 * S + 99 * S).type, 'hit');
  assert.is(at(r.entry, 20 * S + 101 * S).type, 'validate');
});

rv('a 304 for another ETag does not refresh', () => {
  const e = stored({ 'cache-control': 'max-age=10', etag: '"v1"' });
  assert.equal(refreshWith304(e, request(), { etag: '"v2"' }, T0 + 20 * S, rules()), { type: 'unmatched' });
});

rv('a 304 that now forbids storing drops the entry', () => {
  const e = stored({ 'cache-control': 'max-age=10', etag: '"v1"' });
  assert.equal(refreshWith304(e, request(), { etag: '"v1"', 'cache-control': 'no-store' }, T0 + 20 * S, rules()), { type: 'drop' });
});

rv.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { invalidatedUrls } from '../../src/cache/index.ts';
import type { InvalidationInput } from '../../src/cache/index.ts';

const inv = suite('cache invalidation (RFC 9111 §4.4)');
const base: InvalidationInput = {
  method: 'POST', status: 201, url: '/items?x=1', headers: {}, origins: ['http://127.0.0.1:9001'], cachedMethods: ['GET', 'HEAD'],
};

inv('a successful unsafe method invalidates its URL', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) assert.equal(invalidatedUrls({ ...base, method }), ['/items?x=1'], method);
  assert.equal(invalidatedUrls({ ...base, status: 303 }), ['/items?x=1']);
});

inv('and its Location and Content-Location on the same origin, relative or absolute', () => {
  const headers = { location: '/items/7', 'content-location': 'http://127.0.0.1:9001/items/7?full=1' };
  assert.equal(invalidatedUrls({ ...base, headers }), ['/items?x=1', '/items/7', '/items/7?full=1']);
});

inv('never another origin\'s URL', () => {
  assert.equal(invalidatedUrls({ ...base, headers: { location: 'http://elsewhere.example/items/7' } }), ['/items?x=1']);
});

inv('not for safe methods, failed answers, or methods the cache stores (POST as a prompt cache)', () => {
  assert.equal(invalidatedUrls({ ...base, method: 'GET' }), []);
  assert.equal(invalidatedUrls({ ...base, status: 500 }), []);
  assert.equal(invalidatedUrls({ ...base, status: 404 }), []);
  assert.equal(invalidatedUrls({ ...base, cachedMethods: ['GET', 'POST'] }), []);
});

inv.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { CacheStore, entryBytes } from '../../src/cache/index.ts';
import type { CachedEntry } from '../../src/cache/index.ts';
import { request, stored } from './cache-fixtures.ts';

const bounds = suite('cache store bounds');

const entry = (url: string, bytes: number, headers: Record<string, string> = {}, auth?: string): CachedEntry =>
  stored({ 'cache-control': 'max-age=60', ...headers }, { req: request({ url, headers: auth ? { authorization: auth } : {} }), body: 'x'.repeat(bytes) });

bounds('an answer over maxEntryBytes is refused', () => {
  const e = entry('/big', 5_000);
  const s = new CacheStore({ maxBytes: 1 << 20, maxEntryBytes: entryBytes(e) - 1 });
  assert.is(s.put(e), 'too-big');
  assert.equal(s.stats(), { keys: 0, entries: 0, bytes: 0 });
});

bounds('bytes held never exceed maxBytes; the least recently used goes first', () => {
  const one = entryBytes(entry('/a', 1_000));
  const evicted: string[] = [];
  const s = new CacheStore({ maxBytes: one * 3, maxEntryBytes: one, onEvict: (e) => evicted.push(e.url) });
  s.put(entry('/a', 1_000));
  s.put(entry('/b', 1_000));
  s.put(entry('/c', 1_000));
  s.get(entry('/a', 1_000).key); // /a used: /b is now the oldest
  s.put(entry('/d', 1_000));
  assert.equal(evicted, ['/b']);
  assert.ok(s.stats().bytes <= one * 3);
  assert.is(s.get(entry('/a', 1_000).key).length, 1);
  assert.is(s.get(entry('/b', 1_000).key).length, 0);
});

bounds('a key keeps one entry per Vary variant and replaces the same variant', () => {
  const s = new CacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 20 });
  const v = (lang: string, body: string) => stored({ 'cache-control': 'max-age=60', vary: 'accept-language' }, { req: request({ headers: { 'accept-language': lang } }), body });
  s.put(v('en', 'one'));
  s.put(v('fr', 'un'));
  s.put(v('en', 'two'));
  const held = s.get(v('en', '').key).map((e) => Buffer.from(e.body).toString());
  assert.equal(held, ['two', 'un']);
});

bounds.run();

const purge = suite('cache store invalidation and purge');

purge('invalidating a URL drops every user\'s entry of it', () => {
  const s = new CacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 20 });
  const pub = { 'cache-control': 's-maxage=60' };
  s.put(entry('/items?a=1', 10, pub, 'Bearer alice'));
  s.put(entry('/items?a=1', 10, pub, 'Bearer bob'));
  s.put(entry('/items?a=2', 10, pub, 'Bearer bob'));
  assert.is(s.invalidate('/items?a=1'), 2);
  assert.is(s.stats().keys, 1);
});

purge('purging a path without a query drops every query of it; clear drops all', () => {
  const s = new CacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 20 });
  s.put(entry('/items?a=1', 10));
  s.put(entry('/items?a=2', 10));
  s.put(entry('/items', 10));
  s.put(entry('/itemsX', 10));
  assert.is(s.purgePath('/items'), 3);
  assert.is(s.stats().keys, 1);
  assert.is(s.clear(), 1);
  assert.equal(s.stats(), { keys: 0, entries: 0, bytes: 0 });
});

purge.run();

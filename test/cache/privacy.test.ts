// The privacy rules, each its own test: an entry never crosses Authorization/Cookie values unless the
// target is public, under every override; Set-Cookie answers are never stored for anyone else.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { CacheStore, lookup, NotStored } from '../../src/cache/index.ts';
import type { CacheRules } from '../../src/cache/index.ts';
import { keyOf, request, rules, S, store, T0 } from './cache-fixtures.ts';

const privacy = suite('cache privacy');
const alice = request({ headers: { authorization: 'Bearer alice' } });
const bob = request({ headers: { authorization: 'Bearer bob' } });

/** Stores alice's answer, then asks as bob: what does bob get? */
function bobAfterAlice(r: CacheRules, cc: string): string {
  const s = new CacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 20 });
  const d = store({ 'cache-control': cc }, { req: alice, rules: r, body: 'alice-secret' });
  if (d.store) s.put(d.entry);
  const l = lookup(s.get(keyOf(bob, r)), bob, T0 + S);
  return l.type === 'hit' ? Buffer.from(l.entry.body).toString() : l.type;
}

privacy('two users, one URL, respect: bob never gets alice\'s answer, even one the RFC lets us store', () => {
  assert.is(bobAfterAlice(rules(), 'public, max-age=60'), 'miss');
  assert.is(bobAfterAlice(rules(), 's-maxage=60'), 'miss');
});

privacy('two users, one URL, ignore: bob never gets alice\'s answer', () => {
  assert.is(bobAfterAlice(rules({ upstreamHeaders: 'ignore', ttlMs: 60_000 }), 'no-store'), 'miss');
  assert.is(bobAfterAlice(rules({ upstreamHeaders: 'ignore', ttlMs: 60_000, methods: ['GET', 'POST'] }), 'public'), 'miss');
});

privacy('cookies separate users as Authorization does', () => {
  const r = rules({ upstreamHeaders: 'ignore', ttlMs: 60_000 });
  const a = request({ headers: { cookie: 'sid=a' } });
  const b = request({ headers: { cookie: 'sid=b' } });
  assert.is.not(keyOf(a, r), keyOf(b, r));
});

privacy('a public target shares entries across users: that is what public declares', () => {
  assert.is(bobAfterAlice(rules({ public: true }), 'public, max-age=60'), 'alice-secret');
});

privacy('Set-Cookie answers are never stored, in either mode, public or not', () => {
  for (const r of [rules(), rules({ public: true }), rules({ upstreamHeaders: 'ignore', ttlMs: 60_000 })]) {
    const d = store({ 'cache-control': 'public, max-age=60', 'set-cookie': 'sid=new' }, { rules: r });
    assert.equal(d, { store: false, reason: NotStored.SetCookie });
  }
});

privacy('Vary: Authorization keeps users apart even on a public target', () => {
  const r = rules({ public: true });
  assert.is(bobAfterAlice(r, 'public, max-age=60'), 'alice-secret'); // without Vary, public shares
  const s = new CacheStore({ maxBytes: 1 << 20, maxEntryBytes: 1 << 20 });
  const d = store({ 'cache-control': 'public, max-age=60', vary: 'Authorization' }, { req: alice, rules: r });
  assert.ok(d.store);
  if (d.store) s.put(d.entry);
  assert.equal(lookup(s.get(keyOf(bob, r)), bob, T0 + S), { type: 'miss', fwd: 'vary-miss' });
  assert.is(lookup(s.get(keyOf(alice, r)), alice, T0 + S).type, 'hit');
});

privacy('ignore mode never stores a private answer to an anonymous request (anonymous users share a key)', () => {
  const r = rules({ upstreamHeaders: 'ignore', ttlMs: 60_000 });
  assert.equal(store({ 'cache-control': 'private' }, { rules: r }), { store: false, reason: NotStored.Private });
  assert.is(store({ 'cache-control': 'private' }, { rules: r, req: alice }).store, true); // alice's own key
  assert.is(store({ 'cache-control': 'private' }, { rules: { ...r, public: true }, req: alice }).store, false);
});

privacy.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { AffinityTable, affinityKey } from '../../src/dispatch/affinity.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const table = suite('affinity table');

table('remembers a binding until ttlMs after its last use', () => {
  const t = new AffinityTable(1_000);
  t.set('s1', 'a', 0);
  assert.is(t.get('s1', 999), 'a');
  assert.is(t.get('s1', 1_998), 'a', 'the use at 999 refreshed it');
  assert.is(t.get('s1', 2_998), undefined);
  assert.is(t.size, 0, 'an expired binding is dropped when found');
});

table('rebinding moves a session to another replica', () => {
  const t = new AffinityTable(1_000);
  t.set('s1', 'a', 0);
  t.set('s1', 'b', 10);
  assert.is(t.get('s1', 20), 'b');
  assert.is(t.size, 1);
});

table('holds at most maxEntries, dropping the least recently used', () => {
  const t = new AffinityTable(60_000, 3);
  t.set('s1', 'a', 0);
  t.set('s2', 'a', 1);
  t.set('s3', 'a', 2);
  t.get('s1', 3);
  t.set('s4', 'a', 4);
  assert.is(t.size, 3);
  assert.is(t.get('s2', 5), undefined);
  assert.is(t.get('s1', 5), 'a');
});

table('expired bindings are swept when new ones are added', () => {
  const t = new AffinityTable(100);
  for (let i = 0; i < 50; i++) t.set(`old${i}`, 'a', i);
  t.set('new', 'b', 1_000);
  assert.is(t.size, 1);
});

table('forgets every binding to a removed replica', () => {
  const t = new AffinityTable(1_000);
  t.set('s1', 'a', 0);
  t.set('s2', 'b', 0);
  t.set('s3', 'a', 0);
  t.forgetReplica('a');
  assert.is(t.size, 1);
  assert.is(t.get('s2', 1), 'b');
});

table('refuses a ttl or size that is not positive', () => {
  assert.throws(() => new AffinityTable(0), (e: unknown) => e instanceof InvalidArgumentError);
  assert.throws(() => new AffinityTable(1_000, 0), (e: unknown) => e instanceof InvalidArgumentError);
});

const key = suite('affinityKey');

key('reads the configured header', () => {
  assert.is(affinityKey({ 'x-session-id': 'abc' }, { header: 'X-Session-Id' }), 'abc');
  assert.is(affinityKey({ 'x-session-id': ['abc', 'def'] }, { header: 'x-session-id' }), 'abc');
  assert.is(affinityKey({}, { header: 'x-session-id' }), undefined);
  assert.is(affinityKey({ 'x-session-id': '' }, { header: 'x-session-id' }), undefined);
});

key('reads the configured cookie, unquoting its value', () => {
  assert.is(affinityKey({ cookie: 'theme=dark; sid=s-42; other=1' }, { cookie: 'sid' }), 's-42');
  assert.is(affinityKey({ cookie: 'sid="q 1"' }, { cookie: 'sid' }), 'q 1');
  assert.is(affinityKey({ cookie: 'xsid=1; sidx=2' }, { cookie: 'sid' }), undefined);
  assert.is(affinityKey({ cookie: ['a=1', 'sid=2'] }, { cookie: 'sid' }), '2');
});

key('the header wins over the cookie, and neither configured means no key', () => {
  const headers = { 'x-session-id': 'h', cookie: 'sid=c' };
  assert.is(affinityKey(headers, { header: 'x-session-id', cookie: 'sid' }), 'h');
  assert.is(affinityKey({ cookie: 'sid=c' }, { header: 'x-session-id', cookie: 'sid' }), 'c');
  assert.is(affinityKey(headers, {}), undefined);
});

table.run();
key.run();

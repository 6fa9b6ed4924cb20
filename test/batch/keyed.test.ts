import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { keyed } from '../../src/batch/keyed.ts';
import type { ItemAnswer, MergeItem } from '../../src/batch/merge-strategy.ts';

const item = (id: string, body: string): MergeItem => ({ id, body: Buffer.from(body) });
const reply = (body: string, status = 200) => ({ status, body: Buffer.from(body) });
const text = (a: ItemAnswer | undefined): string | undefined => a?.body.toString();

const strategy = suite('keyed merge strategy');

strategy('merges bodies into one object keyed by request id', () => {
  const merged = keyed.merge([item('r1', '{"q": 1.0}'), item('r"2', '[1]')]);
  assert.is(merged.body.toString(), '{"r1":{"q": 1.0},"r\\"2":[1]}');
  assert.equal(JSON.parse(merged.body.toString()), { r1: { q: 1 }, 'r"2': [1] });
});

strategy('splits the reply by key whatever the order, ignoring extra keys', () => {
  const out = keyed.split(reply('{"zzz": 0, "b": {"x":",}"}, "a": 12345678901234567890}'), ['a', 'b']);
  assert.is(out.error, undefined);
  assert.is(text(out.perItem.get('a')), '12345678901234567890');
  assert.is(text(out.perItem.get('b')), '{"x":",}"}');
  assert.is(out.perItem.size, 2);
});

strategy('a missing key answers that item 502 and the others normally', () => {
  const out = keyed.split(reply('{"a": 1}'), ['a', 'b']);
  assert.is(text(out.perItem.get('a')), '1');
  assert.is(out.perItem.get('b')?.status, 502);
  assert.is(out.perItem.get('b')?.error?.code, ErrorCode.BadUpstreamReply);
  assert.ok(out.error);
});

strategy('a repeated key in the reply keeps the last value, as JSON.parse does', () => {
  const out = keyed.split(reply('{"a": 1, "a": 2}'), ['a']);
  assert.is(text(out.perItem.get('a')), '2');
});

strategy('keys with escapes match their decoded id', () => {
  const out = keyed.split(reply('{"\\u0061\\n": true}'), ['a\n']);
  assert.is(text(out.perItem.get('a\n')), 'true');
});

strategy('a reply that is not a JSON object fails every item with a clear detail', () => {
  for (const body of ['[1,2]', 'nope', 'null', '7']) {
    const out = keyed.split(reply(body), ['a', 'b']);
    assert.ok(out.error);
    for (const id of ['a', 'b']) assert.is(out.perItem.get(id)?.error?.code, ErrorCode.BadUpstreamReply);
  }
});

strategy('a non-2xx reply reaches every caller as the upstream sent it', () => {
  const out = keyed.split(reply('{"a":1}', 503), ['a']);
  assert.is(out.perItem.get('a')?.status, 503);
  assert.is(text(out.perItem.get('a')), '{"a":1}');
});

strategy('a request body that is not valid JSON is rejected 400 on its own', () => {
  const merged = keyed.merge([item('a', '1'), item('b', 'x')]);
  assert.is(merged.body.toString(), '{"a":1}');
  assert.is(merged.rejected?.get('b')?.status, 400);
  assert.is(merged.rejected?.get('b')?.error?.code, ErrorCode.BadRequest);
});

strategy('a merge and split round trip answers every item with its own body', () => {
  const items = Array.from({ length: 30 }, (_, i) => item(`id-${i}`, JSON.stringify([i, '}', { k: i }])));
  const merged = keyed.merge(items);
  const out = keyed.split(reply(merged.body.toString()), items.map((i) => i.id));
  for (const it of items) assert.is(text(out.perItem.get(it.id)), it.body.toString());
});

strategy.run();

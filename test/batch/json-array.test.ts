import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { jsonArray } from '../../src/batch/json-array.ts';
import { includedIds } from '../../src/batch/merge-strategy.ts';
import type { ItemAnswer, MergeItem } from '../../src/batch/merge-strategy.ts';

const item = (id: string, body: string): MergeItem => ({ id, body: Buffer.from(body), contentType: 'application/json' });
const reply = (body: string, status = 200) => ({ status, body: Buffer.from(body), contentType: 'application/json' });
const text = (a: ItemAnswer | undefined): string | undefined => a?.body.toString();

const strategy = suite('json-array merge strategy');

strategy('merges bodies into one array in order, keeping each body\'s text exactly', () => {
  const merged = jsonArray.merge([item('a', ' {"n": 1.0} '), item('b', '12345678901234567890'), item('c', '"x"')]);
  assert.is(merged.body.toString(), '[{"n": 1.0},12345678901234567890,"x"]');
  assert.is(merged.contentType, 'application/json');
  assert.is(merged.rejected, undefined);
});

strategy('splits the reply by index, byte for byte, with the reply status', () => {
  const out = jsonArray.split(reply('[ {"a":[1,",]"]} , 1.50,"q\\"]" ]', 200), ['a', 'b', 'c']);
  assert.is(out.error, undefined);
  assert.is(text(out.perItem.get('a')), '{"a":[1,",]"]}');
  assert.is(text(out.perItem.get('b')), '1.50');
  assert.is(text(out.perItem.get('c')), '"q\\"]"');
  assert.is(out.perItem.get('a')?.status, 200);
  assert.is(out.perItem.get('a')?.contentType, 'application/json');
});

strategy('a shorter reply answers the missing items 502 and the others normally', () => {
  const out = jsonArray.split(reply('[1,2]'), ['a', 'b', 'c']);
  assert.is(text(out.perItem.get('a')), '1');
  assert.is(text(out.perItem.get('b')), '2');
  const missing = out.perItem.get('c');
  assert.is(missing?.status, 502);
  assert.is(missing?.error?.code, ErrorCode.BadUpstreamReply);
  assert.ok(out.error);
});

strategy('a longer reply answers every request by index and reports the mismatch', () => {
  const out = jsonArray.split(reply('[1,2,3]'), ['a', 'b']);
  assert.equal([...out.perItem.keys()], ['a', 'b']);
  assert.is(text(out.perItem.get('b')), '2');
  assert.ok(out.error);
});

strategy('a reply that is not JSON or not an array fails every item with a clear detail', () => {
  for (const body of ['not json', '{"a":1}', 'null', '', '"[1,2]"']) {
    const out = jsonArray.split(reply(body), ['a', 'b']);
    assert.ok(out.error, `error for ${JSON.stringify(body)}`);
    for (const id of ['a', 'b']) {
      const a = out.perItem.get(id);
      assert.is(a?.status, 502);
      assert.is(a?.error?.code, ErrorCode.BadUpstreamReply);
      assert.ok(a?.error?.message.includes('batch reply'));
    }
  }
});

strategy('a reply that is not valid UTF-8 fails every item', () => {
  const out = jsonArray.split({ status: 200, body: Buffer.from([0x5b, 0xff, 0x5d]) }, ['a']);
  assert.is(out.perItem.get('a')?.status, 502);
});

strategy('a non-2xx reply reaches every caller as the upstream sent it', () => {
  const out = jsonArray.split({ status: 429, body: Buffer.from('slow down'), contentType: 'text/plain' }, ['a', 'b']);
  for (const id of ['a', 'b']) {
    assert.is(out.perItem.get(id)?.status, 429);
    assert.is(text(out.perItem.get(id)), 'slow down');
    assert.is(out.perItem.get(id)?.contentType, 'text/plain');
    assert.is(out.perItem.get(id)?.error, undefined);
  }
  assert.ok(out.error);
});

strategy('a request body that is not one JSON value is rejected 400 on its own', () => {
  const items = [item('a', '1'), item('b', '{oops'), item('c', ''), item('d', '1 2'), item('e', '[3]')];
  const merged = jsonArray.merge(items);
  assert.is(merged.body.toString(), '[1,[3]]');
  assert.equal([...(merged.rejected?.keys() ?? [])], ['b', 'c', 'd']);
  for (const a of merged.rejected?.values() ?? []) {
    assert.is(a.status, 400);
    assert.is(a.error?.code, ErrorCode.BadRequest);
  }
  assert.equal(includedIds(items, merged), ['a', 'e']);
  assert.is(jsonArray.check?.(item('x', '{oops'))?.status, 400);
  assert.is(jsonArray.check?.(item('x', '{"ok":true}')), undefined);
});

strategy('a merge and split round trip answers every item with its own element', () => {
  const items = Array.from({ length: 50 }, (_, i) => item(`w${i}`, JSON.stringify({ i, s: `,]"${i}` })));
  const merged = jsonArray.merge(items);
  const echoed = jsonArray.split(reply(merged.body.toString()), includedIds(items, merged));
  for (const it of items) assert.is(text(echoed.perItem.get(it.id)), it.body.toString());
});

strategy('an empty batch merges to an empty array and splits to no answers', () => {
  assert.is(jsonArray.merge([]).body.toString(), '[]');
  assert.is(jsonArray.split(reply('[]'), []).perItem.size, 0);
});

strategy('duplicate ids in one batch are a bug and throw', () => {
  assert.throws(() => jsonArray.merge([item('a', '1'), item('a', '2')]), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
  assert.throws(() => jsonArray.split(reply('[1,2]'), ['a', 'a']), (e: { code?: string }) => e.code === ErrorCode.InvalidArgument);
});

strategy.run();

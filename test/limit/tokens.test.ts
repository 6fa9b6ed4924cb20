import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ErrorCode } from '../../src/errors.ts';
import { estimateTokens, tokenDelta, usageFromJson } from '../../src/limit/tokens.ts';

const estimate = suite('token estimate');

estimate('the estimate header wins over the body', () => {
  const body = JSON.stringify({ max_tokens: 500, prompt: 'x'.repeat(400) });
  assert.is(estimateTokens({ headers: { 'x-token-estimate': '123' }, body }), 123);
  assert.is(estimateTokens({ headers: { 'x-token-estimate': [' 7 ', '9'] }, body }), 7);
  assert.is(estimateTokens({ headers: { 'x-cost': '42' }, body: 'abc' }, { header: 'X-Cost' }), 42);
});

estimate('a malformed estimate header is ignored, not trusted', () => {
  for (const v of ['abc', '-5', '1.5', '', '99999999999999999999']) {
    assert.is(estimateTokens({ headers: { 'x-token-estimate': v }, body: 'abcdefgh' }), 2, JSON.stringify(v));
  }
});

estimate('a JSON body is charged its output cap plus a quarter of its bytes', () => {
  // (body, tokens)
  const table: Array<[string, number]> = [
    ['{"max_tokens":100,"prompt":"hi"}', 100 + 8],
    ['{"max_completion_tokens":50,"x":1}', 50 + 9],
    ['{"max_output_tokens":10}', 10 + 6],
    ['  {"max_tokens":-3}', 0 + 5],
    ['{"max_tokens":"100"}', 0 + 5],
    ['{"max_tokens":100', 0 + 5],
    ['[{"max_tokens":100}]', 0 + 5],
  ];
  for (const [body, tokens] of table) assert.is(estimateTokens({ body }), tokens, body);
  assert.is(estimateTokens({ body: new TextEncoder().encode('{"max_tokens":100,"prompt":"hi"}') }), 108);
});

estimate('any other body is a quarter of its UTF-8 bytes, rounded up', () => {
  assert.is(estimateTokens({}), 0);
  assert.is(estimateTokens({ body: 'abcde' }), 2);
  assert.is(estimateTokens({ body: 'éé' }), 1); // 4 bytes
  assert.is(estimateTokens({ body: new Uint8Array(9) }), 3);
});

estimate('a header option that is not a header name is rejected', () => {
  try { estimateTokens({}, { header: 'bad header' }); assert.unreachable(); }
  catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument); }
});

estimate('never throws on any body or header value', () => {
  fc.assert(fc.property(
    fc.oneof(fc.string(), fc.uint8Array(), fc.json()), fc.option(fc.string()),
    (body, header) => {
      const n = estimateTokens({ body, headers: { 'x-token-estimate': header ?? undefined } });
      assert.ok(Number.isSafeInteger(n) && n >= 0);
    },
  ), { numRuns: 500 });
});

const usage = suite('usage from JSON');

usage('reads the usage shapes the common APIs reply with', () => {
  // (reply, tokens)
  const table: Array<[unknown, number | undefined]> = [
    [{ usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }, 15],
    [{ usage: { total_tokens: 30 } }, 30],
    [{ usage: { input_tokens: 12, output_tokens: 8 } }, 20],
    [{ usage: { prompt_tokens: 3, completion_tokens: 4 } }, 7],
    [{ type: 'response.completed', response: { usage: { input_tokens: 2, output_tokens: 3, total_tokens: 5 } } }, 5],
    [{ type: 'message_start', message: { usage: { input_tokens: 9, output_tokens: 1 } } }, 10],
    [[{ usage: { total_tokens: 4 } }, { error: 'x' }, { usage: { total_tokens: 6 } }], 10],
  ];
  for (const [reply, tokens] of table) {
    assert.is(usageFromJson(reply), tokens, JSON.stringify(reply));
    assert.is(usageFromJson(JSON.stringify(reply)), tokens, 'as text');
    assert.is(usageFromJson(new TextEncoder().encode(JSON.stringify(reply))), tokens, 'as bytes');
  }
});

usage('malformed or missing usage is undefined', () => {
  const cases: unknown[] = [
    undefined, null, 42, 'not json', '{"usage":', { usage: null }, { usage: { input_tokens: 5 } },
    { usage: { total_tokens: -1 } }, { usage: { total_tokens: 1.5 } }, { usage: { total_tokens: '9' } },
    { usage: [1, 2] }, [], [{ nothing: true }], new Uint8Array([0xff, 0xfe]),
  ];
  for (const c of cases) assert.is(usageFromJson(c), undefined, String(c));
});

usage('never throws on any input', () => {
  fc.assert(fc.property(fc.oneof(fc.anything(), fc.string(), fc.uint8Array(), fc.json()), (v) => {
    const n = usageFromJson(v);
    assert.ok(n === undefined || (Number.isSafeInteger(n) && n >= 0));
  }), { numRuns: 500 });
});

usage('the delta charges what the estimate missed and refunds what it overcounted', () => {
  assert.is(tokenDelta(100, 130), 30);
  assert.is(tokenDelta(100, 40), -60);
  assert.is(tokenDelta(100, undefined), 0);
});

estimate.run();
usage.run();

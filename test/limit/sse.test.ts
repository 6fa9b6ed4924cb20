import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ErrorCode } from '../../src/errors.ts';
import { SseParser, usageFromSse, type SseEvent } from '../../src/limit/sse.ts';

const sse = suite('sse parser');

const parse = (stream: string): SseEvent[] => {
  const p = new SseParser();
  return [...p.push(stream), ...p.end()];
};
const ev = (data: string, type = 'message', id = ''): SseEvent => ({ type, data, id });

sse('joins data lines with LF and names the event type', () => {
  assert.equal(parse('data: YHOO\ndata: +2\ndata: 10\n\n'), [ev('YHOO\n+2\n10')]);
  assert.equal(parse('event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\ndata: x\n\n'),
    [ev('73857293', 'add'), ev('2153', 'remove'), ev('x')]);
});

sse('follows the spec examples for ids, comments and the optional space', () => {
  const stream = ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n';
  assert.equal(parse(stream), [ev('first event', 'message', '1'), ev('second event'), ev(' third event')]);
  assert.equal(parse('data\n\ndata\ndata\n\ndata:'), [ev(''), ev('\n')]);
  assert.equal(parse('data:test\n\ndata: test\n\n'), [ev('test'), ev('test')]);
});

sse('the last id carries over to later events; an id with NUL is ignored', () => {
  assert.equal(parse('id: 7\ndata: a\n\ndata: b\n\nid: x\u0000y\ndata: c\n\n'),
    [ev('a', 'message', '7'), ev('b', 'message', '7'), ev('c', 'message', '7')]);
});

sse('CRLF, LF and CR all end lines, even mixed', () => {
  assert.equal(parse('data: a\r\ndata: b\rdata: c\n\r\n\rdata: d\r\r'), [ev('a\nb\nc'), ev('d')]);
});

sse('a CRLF split across chunks is one line end, not two', () => {
  const p = new SseParser();
  assert.equal(p.push('data: a\r'), []);
  assert.equal(p.push('\ndata: b\r'), []);
  assert.equal(p.push('\n\r'), [ev('a\nb')]);
  assert.equal(p.push('\n'), []);
});

sse('an event without its closing blank line is dropped at the end', () => {
  const p = new SseParser();
  assert.equal(p.push('data: done\n\ndata: partial\n'), [ev('done')]);
  assert.equal(p.end(), []);
});

sse('a leading BOM is stripped once, later ones are content', () => {
  assert.equal(parse('\uFEFFdata: a\n\n\uFEFFdata: b\n\n'), [ev('a')]);
  const bytes = new TextEncoder().encode('\uFEFFdata: a\n\n');
  const p = new SseParser();
  assert.equal([...p.push(bytes.slice(0, 2)), ...p.push(bytes.slice(2))], [ev('a')]);
});

sse('a UTF-8 character split between chunks decodes whole', () => {
  const bytes = new TextEncoder().encode('data: héllo 😀 中\n\n');
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const b of bytes) out.push(...p.push(new Uint8Array([b])));
  assert.equal(out, [ev('héllo 😀 中')]);
});

sse('retry sets the reconnection time only when it is all digits', () => {
  const p = new SseParser();
  p.push('retry: 3000\n\nretry: 12x\n\n');
  assert.is(p.retryMs, 3_000);
});

sse('an over-long line drops its event and the stream recovers after it', () => {
  const p = new SseParser({ maxLineChars: 16 });
  const out = [...p.push('data: ' + 'x'.repeat(10)), ...p.push('y'.repeat(10) + '\n\n'), ...p.push('data: ok\n\n')];
  assert.equal(out, [ev('ok')]);
  assert.is(p.discardedEvents, 1);
  const q = new SseParser({ maxLineChars: 16 });
  assert.equal(q.push('data: 123456789\ndata: 123456789\n\ndata: z\n\n'), [ev('z')], 'data piling up past the bound');
  try { new SseParser({ maxLineChars: 0 }); assert.unreachable(); }
  catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument); }
});

// Lines may hold anything but CR and LF; graphemes keep the text valid UTF-16 so it encodes losslessly.
const textArb = fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, ''));
const eventArb = fc.record({
  comment: fc.option(textArb),
  type: fc.option(textArb),
  id: fc.option(fc.oneof(textArb, fc.constant('a\u0000b'))),
  data: fc.array(textArb, { minLength: 1, maxLength: 3 }),
});
type GenEvent = { comment: string | null; type: string | null; id: string | null; data: string[] };

function serialize(events: GenEvent[], eol: string): { stream: string; expected: SseEvent[] } {
  let stream = '';
  let lastId = '';
  const expected: SseEvent[] = [];
  for (const e of events) {
    if (e.comment !== null) stream += ':' + e.comment + eol;
    if (e.type !== null) stream += 'event: ' + e.type + eol;
    if (e.id !== null) {
      stream += 'id: ' + e.id + eol;
      if (!e.id.includes('\u0000')) lastId = e.id;
    }
    for (const line of e.data) stream += 'data: ' + line + eol;
    stream += eol;
    expected.push({ type: e.type || 'message', data: e.data.join('\n'), id: lastId });
  }
  return { stream, expected };
}

function cutsOf(length: number, cuts: number[]): number[] {
  return [...new Set(cuts.map((c) => c % (length + 1)))].sort((a, b) => a - b);
}

sse('splitting the same byte stream anywhere yields the same events', () => {
  fc.assert(fc.property(
    fc.array(eventArb, { maxLength: 6 }), fc.constantFrom('\n', '\r\n', '\r'), fc.array(fc.nat(), { maxLength: 12 }),
    (events, eol, rawCuts) => {
      const { stream, expected } = serialize(events, eol);
      const bytes = new TextEncoder().encode(stream);
      const p = new SseParser();
      const out: SseEvent[] = [];
      let from = 0;
      for (const cut of [...cutsOf(bytes.length, rawCuts), bytes.length]) {
        out.push(...p.push(bytes.subarray(from, cut)));
        from = cut;
      }
      out.push(...p.end());
      assert.equal(out, expected);
    },
  ), { numRuns: 600 });
});

sse('splitting the same text stream anywhere, even inside a surrogate pair, yields the same events', () => {
  fc.assert(fc.property(
    fc.array(eventArb, { maxLength: 6 }), fc.constantFrom('\n', '\r\n', '\r'), fc.array(fc.nat(), { maxLength: 12 }),
    (events, eol, rawCuts) => {
      const { stream, expected } = serialize(events, eol);
      const p = new SseParser();
      const out: SseEvent[] = [];
      let from = 0;
      for (const cut of [...cutsOf(stream.length, rawCuts), stream.length]) {
        out.push(...p.push(stream.slice(from, cut)));
        from = cut;
      }
      assert.equal(out, expected);
    },
  ), { numRuns: 600 });
});

const usage = suite('usage from SSE');

usage('takes the usage chunk an OpenAI stream sends before [DONE]', () => {
  const stream = [
    'data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}',
    'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}',
    'data: [DONE]',
  ].join('\n\n') + '\n\n';
  assert.is(usageFromSse(parse(stream)), 18);
});

usage('adds an Anthropic stream\'s input from message_start to the output from message_delta', () => {
  const stream = [
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}',
    'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"usage"}}',
    'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":15}}',
    'event: message_stop\ndata: {"type":"message_stop"}',
  ].join('\n\n') + '\n\n';
  assert.is(usageFromSse(parse(stream)), 40);
});

usage('a stream without usage, or with broken JSON, has none', () => {
  assert.is(usageFromSse(parse('data: {"usage": \n\ndata: hello usage\n\ndata: [DONE]\n\n')), undefined);
  assert.is(usageFromSse([]), undefined);
});

sse.run();
usage.run();

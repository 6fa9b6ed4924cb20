// The usage meter reads token usage from a reply while passing its bytes through unchanged.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { meterModeFor, UsageMeter } from '../../../src/actors/limits/usage-meter.ts';

const meter = suite('usage meter');

async function through(mode: ReturnType<typeof meterModeFor>, chunks: string[], max?: number) {
  const m = new UsageMeter(mode, max);
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), m, async function* (src) { for await (const c of src) out.push(c as Buffer); });
  return { tokens: m.tokens, body: Buffer.concat(out).toString() };
}

meter('chooses JSON, SSE or nothing from the content type, and nothing for compressed bodies', () => {
  assert.is(meterModeFor('application/json; charset=utf-8', undefined), 'json');
  assert.is(meterModeFor('application/vnd.api+json', 'identity'), 'json');
  assert.is(meterModeFor('text/event-stream', undefined), 'sse');
  assert.is(meterModeFor('application/json', 'gzip'), 'off');
  assert.is(meterModeFor('text/plain', undefined), 'off');
  assert.is(meterModeFor(undefined, undefined), 'off');
});

meter('reads usage.total_tokens from a JSON reply split across chunks, bytes unchanged', async () => {
  const body = JSON.stringify({ id: 'x', usage: { prompt_tokens: 10, completion_tokens: 32, total_tokens: 42 } });
  const r = await through('json', [body.slice(0, 7), body.slice(7, 30), body.slice(30)]);
  assert.is(r.tokens, 42);
  assert.is(r.body, body);
});

meter('reads the final usage event of an SSE stream, even with events split mid-line', async () => {
  const stream = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    + 'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}\n\n'
    + 'data: [DONE]\n\n';
  const r = await through('sse', [stream.slice(0, 20), stream.slice(20, 80), stream.slice(80)]);
  assert.is(r.tokens, 12);
  assert.is(r.body, stream);
});

meter('folds usage split over events (input first, output last)', async () => {
  const stream = 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}\n\n'
    + 'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":15}}\n\n';
  assert.is((await through('sse', [stream])).tokens, 35);
});

meter('reports nothing for a body over the JSON cap, or one without usage', async () => {
  const body = JSON.stringify({ usage: { total_tokens: 5 }, pad: 'x'.repeat(100) });
  assert.is((await through('json', [body], 50)).tokens, undefined);
  assert.is((await through('json', ['{"ok":true}'])).tokens, undefined);
  assert.is((await through('off', [body])).tokens, undefined);
});

meter.run();

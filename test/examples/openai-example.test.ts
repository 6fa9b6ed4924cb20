// examples/openai.json against a local stand-in for an OpenAI-compatible API: requests and their
// Authorization reach it, token limits are reconciled with the `usage` the replies report (JSON and
// SSE), and streamed replies reach the client as they are written.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startExample, type RunningExample } from './run-example.ts';

const openai = suite('examples/openai.json', { timeoutMs: 60_000 });
let up: UpstreamStub;
let node: RunningExample;

openai.before(async () => {
  up = await UpstreamStub.start();
  node = await startExample('examples/openai.json', { OPENAI_BASE_URL: up.url });
});
openai.after(async () => { await node.stop(); await up.close(); });

const chat = (body: Record<string, unknown>) => request(`${node.url}/openai/v1/chat/completions`, {
  method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hello' }], ...body }),
});

/** The `tpm` limit's cluster total, once it equals `want` (settling follows the body's end). */
async function tokensSpent(want: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const d = (await (await request(`${node.url}/_sluice/targets/openai`)).body.json()) as { limitState: Array<{ name: string; state: { clusterTotal: number } }> };
    const total = d.limitState.find((l) => l.name === 'tpm')!.state.clusterTotal;
    if (total === want || Date.now() > deadline) return total;
    await new Promise((r) => setTimeout(r, 20)); // polling the admin API, bounded by the deadline above
  }
}

openai('a chat completion goes through with its key, and the tokens limit counts the usage the reply reports', async () => {
  up.handler = (_r, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'c1', choices: [{ message: { role: 'assistant', content: 'hi' } }], usage: { prompt_tokens: 1000, completion_tokens: 234, total_tokens: 1234 } }));
  };
  const r = await chat({});
  assert.is(r.statusCode, 200);
  assert.is(((await r.body.json()) as { id: string }).id, 'c1');
  const got = up.received.at(-1)!;
  assert.is(got.url, '/v1/chat/completions');
  assert.is(got.headers.authorization, 'Bearer sk-test');
  assert.is(await tokensSpent(1234), 1234);
});

openai('a streamed completion reaches the client event by event, and its usage event is counted', async () => {
  const more = deferred();
  up.handler = async (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'he' } }] })}\n\n`);
    await more.promise;
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'llo' } }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 40, completion_tokens: 10, total_tokens: 50 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  const r = await chat({ stream: true, stream_options: { include_usage: true } });
  assert.is(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), 'text/event-stream');
  const chunks: string[] = [];
  for await (const c of r.body) {
    chunks.push(c.toString());
    if (chunks.length === 1) {
      assert.match(chunks[0]!, '"he"', 'the first event arrives while the upstream is still writing');
      more.resolve();
    }
  }
  assert.match(chunks.join(''), 'data: [DONE]');
  assert.is(await tokensSpent(1234 + 50), 1234 + 50);
});

openai('the same completion asked again, with the same key, is answered from the cache; another key is not', async () => {
  let n = 0;
  up.handler = (_r, res) => {
    n++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ id: `c${n}`, choices: [], usage: { total_tokens: 10 } }));
  };
  const ask = async (key: string, content: string) => {
    const r = await request(`${node.url}/openai/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content }] }),
    });
    return { id: ((await r.body.json()) as { id: string }).id, status: String(r.headers['cache-status']) };
  };
  const first = await ask('sk-one', 'cache me');
  const again = await ask('sk-one', 'cache me');
  assert.is(again.id, first.id, 'the upstream said no-store, and upstreamHeaders: "ignore" caches it anyway');
  assert.match(again.status, 'hit');
  assert.is(n, 1);
  assert.is.not((await ask('sk-two', 'cache me')).id, first.id, 'never shared across Authorization');
  assert.is.not((await ask('sk-one', 'another prompt')).id, first.id, 'keyed by the body');
  assert.is(n, 3);
});

openai.run();

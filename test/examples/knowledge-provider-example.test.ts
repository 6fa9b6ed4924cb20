// examples/knowledge-provider.json (seed 003's TRAPI throttle): distinct queries arriving together
// become one merged upstream call whose reply is split back, one answer per caller; the target is paced.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startExample, type RunningExample } from './run-example.ts';

const kp = suite('examples/knowledge-provider.json', { timeoutMs: 60_000 });
let up: UpstreamStub;
let node: RunningExample;

kp.before(async () => {
  up = await UpstreamStub.start((r, res) => {
    const queries = JSON.parse(r.body.toString()) as Array<{ q: number }>;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(queries.map((x) => ({ answer: x.q * 10 }))));
  });
  node = await startExample('examples/knowledge-provider.json', { KP_URL: up.url });
});
kp.after(async () => { await node.stop(); await up.close(); });

kp('five queries at once make one upstream call, and each caller gets its own answer', async () => {
  const replies = await Promise.all([1, 2, 3, 4, 5].map(async (q) => {
    const r = await request(`${node.url}/kp/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ q }) });
    return { status: r.statusCode, batch: String(r.headers['x-sluice-batch']), body: (await r.body.json()) as { answer: number } };
  }));
  assert.is(up.calls, 1);
  assert.is(up.received[0]!.url, '/query');
  assert.equal((JSON.parse(up.received[0]!.body.toString()) as Array<{ q: number }>).map((x) => x.q).sort(), [1, 2, 3, 4, 5]);
  assert.equal(replies.map((r) => r.status), [200, 200, 200, 200, 200]);
  assert.equal(replies.map((r) => r.body.answer), [10, 20, 30, 40, 50]);
  assert.ok(replies.every((r) => r.batch.endsWith('size=5')), replies[0]!.batch);
  const d = (await (await request(`${node.url}/_sluice/targets/kp`)).body.json()) as { pace: { quota: number; windowMs: number }; paceState: unknown };
  assert.equal(d.pace, { quota: 3, windowMs: 60_000 });
  assert.ok(d.paceState !== null, 'the pacer runs');
});

kp.run();

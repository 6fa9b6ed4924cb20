// Merge mode end to end: distinct POSTs to one route become one upstream call through a strategy,
// and the reply is split back per caller. Slots flush by size here, so batches are deterministic.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const merging = suite('merge mode');
let up: UpstreamStub;
let node: SluiceNode;
const agent = new Agent({ connections: 50 });
const fixture = (name: string) => fileURLToPath(new URL(`../batch/fixtures/${name}`, import.meta.url));

merging.before(async () => {
  up = await UpstreamStub.start();
  const target = (name: string, batch: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name, prefix: `/${name}`, replicas: [up.url], retry: { attempts: 1 },
    batch: { mode: 'merge', maxWaitMs: 60_000, maxBatchSize: 3, ...batch }, ...extra,
  });
  node = await startNode({
    node: { id: 'merge-1' },
    targets: [
      target('arr', { merge: 'json-array' }),
      target('key', { merge: 'keyed' }),
      target('two', { merge: 'json-array', maxBatchSize: 2 }),
      target('slow', { merge: 'json-array' }, { timeoutMs: 150 }),
      target('lines', { merge: fixture('lines-strategy.ts') }),
      target('broken', { merge: fixture('bad-merge-strategy.ts') }),
    ],
  });
});
merging.after(async () => { await node.stop(); await up.close(); await agent.close(); });
merging.before.each(() => {
  up.calls = 0;
  up.received.length = 0;
});

async function post(path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const r = await request(`${node.url}${path}`, { dispatcher: agent, method: 'POST', body, headers });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

/** Echoes each element of a JSON array body as `{"echo": element}`, dropping the last `drop`. */
const echoArray = (drop = 0) => {
  up.handler = (r, res) => {
    const items = JSON.parse(r.body.toString()) as unknown[];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(items.slice(0, items.length - drop).map((echo) => ({ echo }))));
  };
};

merging('json-array: three bodies become one array call, and each caller gets its own element back', async () => {
  echoArray();
  const got = await Promise.all([1, 2, 3].map((n) => post('/arr/classify?model=m', JSON.stringify({ n }))));
  assert.is(up.calls, 1);
  const sent = up.received[0]!;
  assert.is(sent.url, '/classify?model=m');
  assert.is(sent.headers['content-type'], 'application/json');
  assert.equal((JSON.parse(sent.body.toString()) as Array<{ n: number }>).map((i) => i.n).sort(), [1, 2, 3]);
  got.forEach((a, i) => {
    assert.is(a.status, 200);
    assert.equal(JSON.parse(a.body), { echo: { n: i + 1 } });
    assert.match(String(a.headers['x-sluice-batch']), /; size=3$/);
  });
});

merging('keyed: bodies travel as an object keyed by request id, and the reply is split by key', async () => {
  up.handler = (r, res) => {
    const items = JSON.parse(r.body.toString()) as Record<string, unknown>;
    const reply = Object.fromEntries(Object.entries(items).reverse().map(([id, v]) => [id, { echo: v }]));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
  };
  const got = await Promise.all(['a', 'b', 'c'].map((q) => post('/key/ask', JSON.stringify({ q }))));
  assert.is(up.calls, 1);
  assert.is(Object.keys(JSON.parse(up.received[0]!.body.toString()) as object).length, 3);
  assert.equal(got.map((a) => JSON.parse(a.body)), [{ echo: { q: 'a' } }, { echo: { q: 'b' } }, { echo: { q: 'c' } }]);
});

merging('a reply missing an item answers that caller 502 and the others normally', async () => {
  echoArray(1);
  const got = await Promise.all([1, 2, 3].map((n) => post('/arr/x', JSON.stringify({ n }))));
  const failed = got.filter((a) => a.status === 502);
  assert.is(failed.length, 1);
  assert.is((JSON.parse(failed[0]!.body) as { code: string }).code, 'SLUICE_BAD_UPSTREAM_REPLY');
  got.forEach((a, i) => { if (a.status === 200) assert.equal(JSON.parse(a.body), { echo: { n: i + 1 } }); });

  // keyed: a missing member fails only its caller
  up.handler = (r, res) => {
    const ids = Object.keys(JSON.parse(r.body.toString()) as object);
    res.end(JSON.stringify(Object.fromEntries(ids.slice(1).map((id) => [id, 'ok']))));
  };
  const keyed = await Promise.all(['a', 'b', 'c'].map((q) => post('/key/ask', JSON.stringify({ q }))));
  assert.equal(keyed.map((a) => a.status).sort(), [200, 200, 502]);
});

merging('a reply that is not what the strategy expects answers every caller 502 with the reason', async () => {
  up.handler = (_r, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"not":"an array"}'); };
  const got = await Promise.all([1, 2, 3].map((n) => post('/arr/x', JSON.stringify({ n }))));
  for (const a of got) {
    assert.is(a.status, 502);
    const p = JSON.parse(a.body) as { code: string; detail: string };
    assert.is(p.code, 'SLUICE_BAD_UPSTREAM_REPLY');
    assert.match(p.detail, /expected a JSON array of 3 items/);
  }
});

merging('a body the strategy cannot merge is answered 400 alone; the others are merged as usual', async () => {
  echoArray();
  const bad = await post('/two/x', '{oops');
  assert.is(bad.status, 400);
  assert.is((JSON.parse(bad.body) as { code: string }).code, 'SLUICE_BAD_REQUEST');
  assert.is(up.calls, 0);
  const got = await Promise.all([1, 2].map((n) => post('/two/x', JSON.stringify({ n }))));
  assert.equal(got.map((a) => a.status), [200, 200]);
  assert.is(up.calls, 1);
});

merging('an upstream 5xx for the batch reaches every caller as it came', async () => {
  up.handler = (_r, res) => { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('batch blew up'); };
  const got = await Promise.all([1, 2, 3].map((n) => post('/arr/x', JSON.stringify({ n }))));
  assert.is(up.calls, 1);
  for (const a of got) { assert.is(a.status, 500); assert.is(a.body, 'batch blew up'); }
});

merging('an upstream timeout reaches every caller as the same 504 problem', async () => {
  const never = deferred();
  up.handler = async (_r, res) => { await never.promise; res.end(); };
  const got = await Promise.all([1, 2, 3].map((n) => post('/slow/x', JSON.stringify({ n }))));
  never.resolve();
  for (const a of got) {
    assert.is(a.status, 504);
    assert.is((JSON.parse(a.body) as { code: string }).code, 'SLUICE_UPSTREAM_TIMEOUT');
  }
});

merging('a strategy from a module path merges and splits; a line it leaves out answers that caller 502', async () => {
  up.handler = (r, res) => {
    const lines = r.body.toString().split('\n');
    res.end(lines.slice(0, 2).map((l) => l.toUpperCase()).join('\n'));
  };
  const got = await Promise.all(['a', 'b', 'c'].map((b) => post('/lines/x', b, { 'content-type': 'text/plain' })));
  assert.is(up.received[0]!.headers['content-type'], 'text/plain');
  const ok = got.filter((a) => a.status === 200);
  assert.is(ok.length, 2);
  got.forEach((a, i) => { if (a.status === 200) assert.is(a.body, ['A', 'B', 'C'][i]); });
});

merging('a strategy that fails to merge fails the whole batch with one 500, and no call is made', async () => {
  const got = await Promise.all([1, 2, 3].map((n) => post('/broken/x', JSON.stringify({ n }))));
  assert.equal(got.map((a) => a.status), [500, 500, 500]);
  assert.is(up.calls, 0);
});

merging('methods outside batch.methods pass through', async () => {
  up.handler = (r, res) => { res.end(`plain ${r.method}`); };
  const r = await request(`${node.url}/arr/x`, { dispatcher: agent });
  assert.is(await r.body.text(), 'plain GET');
  assert.is(up.calls, 1);
});

merging.run();

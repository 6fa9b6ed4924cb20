// Limits over real HTTP: in-process nodes on a VirtualClock (so windows and pacing are exact) in
// front of real upstream stubs on loopback. Waits are on events and in-process state, never sleeps.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import type { SluiceNode } from '../../src/node.ts';
import { ConfiguredLimits } from '../../src/actors/limits/target-limits.ts';
import { GcraUpstreamPacer } from '../../src/actors/pacer.ts';
import { windowEndAt, windowIdAt } from '../../src/limit/windows.ts';
import { startNode } from '../support/nodes.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';

const http = suite('limits over HTTP integration');

const WINDOW_MS = 10_000;
const START = windowEndAt(windowIdAt(1_700_000_000_000, WINDOW_MS), WINDOW_MS) + 1_000;

let up: UpstreamStub;
const running: SluiceNode[] = [];

http.before(async () => { up = await UpstreamStub.start(); });
http.after(async () => { await up.close(); });
http.after.each(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop()));
  up.calls = 0;
  up.received.length = 0;
  up.handler = (_r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); };
});

async function start(target: Record<string, unknown>, clock = new VirtualClock(START), opts: { bus?: LocalNetwork; id?: string } = {}) {
  const node = await startNode({
    node: { id: opts.id ?? 'a' },
    targets: [{ name: 'llm', prefix: '/llm', replicas: [up.url], batch: { mode: 'none' }, ...target }],
  }, { clock, ...(opts.bus ? { bus: opts.bus.connect(opts.id ?? 'a') } : {}) });
  running.push(node);
  return { node, clock };
}

const limitsOf = (n: SluiceNode) => n.targets.get('llm')!.limits as ConfiguredLimits;

/** Yields to I/O until `cond` holds (bounded by turns, not time). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise(setImmediate);
  }
  throw new Error(`never: ${what}`);
}

const get = (n: SluiceNode, path = '/llm/x', headers: Record<string, string> = {}) => request(n.url + path, { headers });

http('over the limit answers 429 problem+json with Retry-After and RateLimit-*, and calls no upstream', async () => {
  const { node } = await start({ limits: [{ name: 'rpm', limit: 2, windowMs: WINDOW_MS }] });
  const first = await get(node);
  await first.body.text();
  assert.is(first.statusCode, 200);
  assert.is(first.headers['ratelimit-limit'], '2');
  assert.is(first.headers['ratelimit-remaining'], '1');
  assert.is(first.headers['ratelimit-reset'], '9');
  await (await get(node)).body.text();
  const limited = await get(node);
  const problem = (await limited.body.json()) as { status: number; code: string };
  assert.is(limited.statusCode, 429);
  assert.match(String(limited.headers['content-type']), /application\/problem\+json/);
  assert.is(problem.code, 'SLUICE_RATE_LIMITED');
  assert.is(limited.headers['retry-after'], '9');
  assert.is(limited.headers['ratelimit-limit'], '2');
  assert.is(limited.headers['ratelimit-remaining'], '0');
  assert.is(limited.headers['ratelimit-reset'], '9');
  assert.is(limited.headers['x-sluice-node'], 'a');
  assert.is(up.calls, 2);
});

http('queue mode holds the request and releases it when the next window starts', async () => {
  const { node, clock } = await start({ limits: [{ name: 'rpm', limit: 1, windowMs: WINDOW_MS, onLimit: 'queue', maxQueueMs: 30_000 }] });
  await (await get(node)).body.text();
  const held = get(node);
  await until(() => limitsOf(node).queued === 1, 'the second request is queued');
  assert.is(up.calls, 1);
  clock.advanceTo(START + 8_999);
  await new Promise(setImmediate);
  assert.is(up.calls, 1, 'still held just before the window ends');
  clock.advanceTo(START + 9_000);
  const r = await held;
  await r.body.text();
  assert.is(r.statusCode, 200);
  assert.is(up.calls, 2);
  assert.is(r.headers['ratelimit-remaining'], '0');
});

http('shadow mode lets everything through and marks what it would have refused', async () => {
  const { node } = await start({ limits: [{ name: 'rpm', limit: 1, windowMs: WINDOW_MS, enforce: false }] });
  const a = await get(node);
  await a.body.text();
  const b = await get(node);
  await b.body.text();
  assert.is(a.headers['x-sluice-would-limit'], undefined);
  assert.is(b.statusCode, 200);
  assert.is(b.headers['x-sluice-would-limit'], 'rpm');
  const metrics = await (await request(node.url + '/_sluice/metrics')).body.text();
  assert.match(metrics, /sluice_limit_decisions_total\{target="llm",limit="rpm",outcome="would_limit",node="a"\} 1/);
});

http('a node alone after seeing its peers answers with X-Sluice-Degraded and keeps to its share', async () => {
  const clock = new VirtualClock(START);
  const network = new LocalNetwork(clock);
  const target = { limits: [{ name: 'rpm', limit: 4, windowMs: WINDOW_MS }], };
  const { node: a } = await start(target, clock, { bus: network, id: 'a' });
  await start(target, clock, { bus: network, id: 'b' });
  clock.advance(1_100); // heartbeats, gossip, catch-up
  const healthy = await get(a);
  await healthy.body.text();
  assert.is(healthy.headers['x-sluice-degraded'], undefined);
  network.partition([['a'], ['b']]);
  clock.advance(1_000);
  const alone = await get(a);
  await alone.body.text();
  assert.is(alone.statusCode, 200);
  assert.is(alone.headers['x-sluice-degraded'], 'rpm');
  const over = await get(a);
  await over.body.text();
  assert.is(over.statusCode, 429, 'the share of 4 / 2 nodes is spent');
  assert.is(over.headers['x-sluice-degraded'], 'rpm');
  const metrics = await (await request(a.url + '/_sluice/metrics')).body.text();
  assert.match(metrics, /sluice_limit_degraded\{target="llm",limit="rpm",node="a"\} 1/);
});

const usageReply = (total: number) => (_r: unknown, res: import('node:http').ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ choices: [], usage: { prompt_tokens: 1, completion_tokens: total - 1, total_tokens: total } }));
};

http('a token reservation refuses the request that would cross the limit before any upstream call', async () => {
  up.handler = usageReply(60);
  const { node } = await start({ limits: [{ name: 'tpm', dimension: 'tokens', limit: 100, windowMs: WINDOW_MS }] });
  const a = await get(node, '/llm/x', { 'x-token-estimate': '60' });
  await a.body.text();
  assert.is(a.statusCode, 200);
  const b = await get(node, '/llm/x', { 'x-token-estimate': '60' });
  await b.body.text();
  assert.is(b.statusCode, 429);
  assert.is(b.headers['ratelimit-remaining'], '40');
  assert.is(up.calls, 1);
});

http('the estimate from a JSON body is reconciled with the usage the JSON reply reports', async () => {
  up.handler = usageReply(20);
  const { node } = await start({ limits: [{ name: 'tpm', dimension: 'tokens', limit: 100, windowMs: WINDOW_MS }] });
  const body = JSON.stringify({ max_tokens: 60, prompt: 'x'.repeat(60) });
  const a = await request(node.url + '/llm/v1/chat', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await a.body.text();
  assert.is(a.statusCode, 200);
  assert.is(up.received[0]!.body.toString(), body, 'the buffered body reaches the upstream intact');
  assert.is(a.headers['ratelimit-remaining'], String(100 - 60 - Math.ceil(body.length / 4)));
  // Only 20 were used: 70 more fit now, which the estimate alone (80) would have refused.
  const b = await get(node, '/llm/x', { 'x-token-estimate': '70' });
  await b.body.text();
  assert.is(b.statusCode, 200);
  assert.is(b.headers['ratelimit-remaining'], '10');
});

http('usage from the final SSE event of a streamed reply charges what the estimate missed', async () => {
  up.handler = (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"choices":[{"delta":{"content":"a"}}]}\n\n');
    res.write('data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":80,"total_tokens":90}}\n\n');
    res.end('data: [DONE]\n\n');
  };
  const { node } = await start({ limits: [{ name: 'tpm', dimension: 'tokens', limit: 100, windowMs: WINDOW_MS }] });
  const a = await get(node, '/llm/stream', { 'x-token-estimate': '5' });
  const text = await a.body.text();
  assert.match(text, /\[DONE\]/);
  // 90 used, not 5: an estimate of 20 no longer fits.
  const b = await get(node, '/llm/x', { 'x-token-estimate': '20' });
  await b.body.text();
  assert.is(b.statusCode, 429);
  assert.is(b.headers['ratelimit-remaining'], '10');
});

http('a per-client limit keys by the header: one key refused, another admitted', async () => {
  const { node } = await start({ limits: [{ name: 'per-key', per: { header: 'x-api-key' }, limit: 1, windowMs: WINDOW_MS }] });
  await (await get(node, '/llm/x', { 'x-api-key': 'k1' })).body.text();
  const again = await get(node, '/llm/x', { 'x-api-key': 'k1' });
  await again.body.text();
  const other = await get(node, '/llm/x', { 'x-api-key': 'k2' });
  await other.body.text();
  assert.is(again.statusCode, 429);
  assert.is(other.statusCode, 200);
});

http('paced calls reach the upstream windowMs / quota apart on the node clock', async () => {
  const clock = new VirtualClock(START);
  const arrivals: number[] = [];
  up.handler = (_r, res) => { arrivals.push(clock.now()); res.end('ok'); };
  const { node } = await start({ pace: { quota: 2, windowMs: 1_000 } }, clock);
  const pacer = node.targets.get('llm')!.pacer as GcraUpstreamPacer;
  const answers = [get(node), get(node), get(node)];
  await up.arrived(1);
  await until(() => pacer.waiting === 2, 'two calls wait for their turn');
  clock.advance(500);
  await up.arrived(2);
  clock.advance(500);
  await up.arrived(3);
  for (const r of await Promise.all(answers)) await r.body.text();
  assert.equal(arrivals, [START, START + 500, START + 1_000]);
});

http('limits registered and changed through the admin API apply at once and keep the window\'s counts', async () => {
  const { node } = await start({});
  const put = (limit: unknown) => request(`${node.url}/_sluice/targets/api`, {
    method: 'PUT', body: JSON.stringify({ prefix: '/api', replicas: [up.url], batch: { mode: 'none' }, limits: [{ name: 'rpm', limit, windowMs: WINDOW_MS }] }),
  });
  const created = await put(1);
  const described = (await created.body.json()) as { limitState: Array<{ name: string; state: { mode: string } }> };
  assert.is(created.statusCode, 201);
  assert.is(described.limitState[0]!.state.mode, 'approximate');
  const codes = async (n: number) => { const out: number[] = []; for (let i = 0; i < n; i++) { const r = await get(node, '/api/x'); await r.body.text(); out.push(r.statusCode); } return out; };
  assert.equal(await codes(2), [200, 429]);
  const raised = await put(2);
  await raised.body.text();
  assert.is(raised.statusCode, 200);
  assert.equal(await codes(2), [200, 429], 'the request admitted before the change still counts');
  const bad = await put(-1);
  const problem = (await bad.body.json()) as { detail: string };
  assert.is(bad.statusCode, 400);
  assert.match(problem.detail, /limits\.0\.limit/);
});

http.run();

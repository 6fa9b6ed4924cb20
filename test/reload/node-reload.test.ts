// Hot reload in process: a node under load takes a new config; nothing in flight is dropped, what
// changed applies, and the state of what did not change (limit windows, open breakers) is kept.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { parseConfig } from '../../src/config/load.ts';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';
import { deadReplica, type DeadReplica } from '../support/ports.ts';

const reload = suite('node reload');
let a: UpstreamStub;
let b: UpstreamStub;
let node: SluiceNode;
let dead: DeadReplica;
/** Windows long enough that no test run crosses a boundary (window ids are floor(now / windowMs)). */
const HOUR_MS = 3_600_000;

type Json = Record<string, any>;
const base = (): { node: Json; targets: Json[] } => ({
  node: { id: 'r1', port: 0, drainMs: 5_000 },
  targets: [
    { name: 'api', prefix: '/api', replicas: [a.url], batch: { mode: 'none' }, limits: [{ name: 'rpm', limit: 1_000, windowMs: 60_000 }] },
    { name: 'capped', prefix: '/capped', replicas: [a.url], batch: { mode: 'none' }, limits: [{ name: 'few', limit: 3, windowMs: HOUR_MS }] },
    { name: 'cached', prefix: '/cached', replicas: [a.url], batch: { mode: 'none' }, cache: { enabled: true, ttlMs: HOUR_MS, upstreamHeaders: 'ignore' } },
    { name: 'flaky', prefix: '/flaky', replicas: [dead.url], batch: { mode: 'none' }, retry: { attempts: 1 },
      breaker: { consecutiveFailures: 1, openMs: 60_000, maxOpenMs: 60_000 } },
  ],
});

reload.before(async () => {
  a = await UpstreamStub.start();
  b = await UpstreamStub.start();
  dead = await deadReplica();
  node = await startNode(base());
});
reload.after(async () => { await node.stop(); await a.close(); await b.close(); await dead.close(); });

/** The config as the node runs it now, as plain editable JSON. */
const running = () => JSON.parse(JSON.stringify({ node: base().node, targets: node.config.targets })) as { node: Json; targets: Json[] };

const get = async (path: string) => {
  const r = await request(node.url + path);
  await r.body.text();
  return r.statusCode;
};
const describe = async (name: string) => (await (await request(`${node.url}/_sluice/targets/${name}`)).body.json()) as {
  limitState: Array<{ name: string; limit: number }>; replicaState: { replicas: Array<{ replica: string; breaker: string }> };
};

reload('requests in flight during a reload are all answered; a changed limit shows and an added replica takes calls', async () => {
  const gate = deferred();
  a.handler = async (r, res) => { if (r.url.startsWith('/held/')) await gate.promise; res.writeHead(200); res.end('a'); };
  b.handler = (_r, res) => { res.writeHead(200); res.end('b'); };
  const N = 40;
  const inFlight = Array.from({ length: N }, (_, i) => get(`/api/held/${i}`));
  await a.arrived(N); // every one of them is at the upstream, held

  const next = base();
  next.targets[0] = { ...next.targets[0]!, replicas: [a.url, b.url], limits: [{ name: 'rpm', limit: 2_000, windowMs: 60_000 }] };
  const plan = node.reload(parseConfig(next));
  assert.equal(plan.changed.map((c) => c.config.name), ['api']);
  assert.equal(plan.changed[0]!.carry.breakers, [a.url]);

  // New requests meanwhile go to the new runtime, and some reach the added replica.
  const after = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`/api/new/${i}`).catch(() => 0)));
  gate.resolve();
  const statuses = await Promise.all(inFlight);
  assert.equal(statuses, new Array(N).fill(200), 'every request in flight at the reload is answered');
  assert.ok(after.every((s) => s === 200), `after the reload: ${after}`);
  assert.ok(b.calls > 0, 'the added replica takes calls');

  const d = await describe('api');
  assert.is(d.limitState.find((l) => l.name === 'rpm')!.limit, 2_000);
  assert.equal(d.replicaState.replicas.map((r) => r.replica), [a.url, b.url]);
  await node.retired(); // the replaced runtime closes once its requests are done
});

reload('an unchanged limit keeps its window, and an unchanged replica keeps its open breaker', async () => {
  a.handler = (_r, res) => { res.writeHead(200); res.end('ok'); };
  for (let i = 0; i < 3; i++) assert.is(await get('/capped/x'), 200);
  assert.is(await get('/capped/x'), 429, 'the window is spent');
  assert.is(await get('/flaky/x'), 502);
  assert.is((await describe('flaky')).replicaState.replicas[0]!.breaker, 'open');

  // Both targets change, but not their limit or breaker: the state of those is carried over.
  const next = running();
  next.targets[1] = { ...next.targets[1]!, timeoutMs: 20_000 };
  next.targets[3] = { ...next.targets[3]!, timeoutMs: 20_000 };
  const plan = node.reload(parseConfig(next));
  assert.equal(plan.changed.map((c) => c.config.name).sort(), ['capped', 'flaky']);
  assert.is(await get('/capped/x'), 429, 'the spent window is kept');
  assert.is((await describe('flaky')).replicaState.replicas[0]!.breaker, 'open', 'the open breaker is kept');
  assert.is(await get('/flaky/x'), 503, 'and still fails fast');

  // A new limit on the same target starts from the old window's count: 3 spent of 5.
  next.targets[1] = { ...next.targets[1]!, limits: [{ name: 'few', limit: 5, windowMs: HOUR_MS }] };
  node.reload(parseConfig(next));
  assert.equal([await get('/capped/x'), await get('/capped/x'), await get('/capped/x')], [200, 200, 429]);
  await node.retired();
});

reload('a changed target whose cache section is unchanged keeps its entries', async () => {
  a.handler = (_r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('stored'); };
  assert.is(await get('/cached/entry'), 200);
  const calls = a.calls;
  const next = running();
  const i = next.targets.findIndex((t) => t.name === 'cached');
  next.targets[i] = { ...next.targets[i]!, timeoutMs: 25_000 };
  const plan = node.reload(parseConfig(next));
  assert.equal(plan.changed.map((c) => [c.config.name, c.carry.cache]), [['cached', true]]);
  const r = await request(`${node.url}/cached/entry`);
  assert.is(await r.body.text(), 'stored');
  assert.match(String(r.headers['cache-status']), 'hit');
  assert.is(a.calls, calls, 'answered from the kept cache');
  await node.retired();
});

reload('an admin PUT of a target takes the same path: its open breaker is kept', async () => {
  const r = await request(`${node.url}/_sluice/targets/flaky`, {
    method: 'PUT', body: JSON.stringify({ ...base().targets[3], timeoutMs: 15_000 }), headers: { 'content-type': 'application/json' },
  });
  assert.is(r.statusCode, 200);
  const d = (await r.body.json()) as { timeoutMs: number; replicaState: { replicas: Array<{ breaker: string }> } };
  assert.is(d.timeoutMs, 15_000);
  assert.is(d.replicaState.replicas[0]!.breaker, 'open');
});

reload('removed targets stop serving, added ones start, unchanged ones keep their runtime', async () => {
  const before = node.targets.get('capped');
  const next = running();
  next.targets.splice(3, 1);
  next.targets.push({ name: 'extra', prefix: '/extra', replicas: [b.url], batch: { mode: 'none' } });
  const plan = node.reload(parseConfig(next));
  assert.equal(plan.removed, ['flaky']);
  assert.equal(plan.added.map((t) => t.name), ['extra']);
  assert.ok(plan.unchanged.includes('capped'));
  assert.is(node.targets.get('capped'), before, 'same runtime');
  assert.is(await get('/flaky/x'), 404);
  assert.is(await get('/extra/x'), 200);
  await node.retired();
});

reload.run();

import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const admin = suite('admin API');
let up: UpstreamStub;
let node: SluiceNode;
const auth = { authorization: 'Bearer t0ken' };

admin.before(async () => {
  up = await UpstreamStub.start((r, res) => { res.end(`upstream saw ${r.url}`); });
  node = await startNode({ node: { id: 'adm' }, cluster: { name: 'c1' }, admin: { token: 't0ken' }, targets: [] });
});
admin.after(async () => { await node.stop(); await up.close(); });

admin('every admin call but the probes needs the bearer token when one is configured', async () => {
  for (const path of ['metrics', 'targets', 'cluster', 'targets/x', '', 'dashboard/events']) {
    const none = await request(`${node.url}/_sluice/${path}`);
    assert.is(none.statusCode, 401, path);
    assert.is(none.headers['content-type'], 'application/problem+json');
    await none.body.dump();
    const wrong = await request(`${node.url}/_sluice/${path}`, { headers: { authorization: 'Bearer t0kem' } });
    assert.is(wrong.statusCode, 401, path);
    await wrong.body.dump();
  }
  const ok = await request(`${node.url}/_sluice/cluster`, { headers: auth });
  assert.is(ok.statusCode, 200);
  await ok.body.dump();
});

admin('health, readiness and cluster views answer with the node identity', async () => {
  assert.is((await request(`${node.url}/_sluice/readyz`, { headers: auth })).statusCode, 200);
  const c = await (await request(`${node.url}/_sluice/cluster`, { headers: auth })).body.json() as Record<string, unknown>;
  const { booksComplete, ...identity } = c;
  assert.equal(identity, { node: 'adm', cluster: 'c1', nodes: ['adm'], singleton: 'adm' }); // alone, it holds the strict singleton
  assert.type(booksComplete, 'boolean', 'whether its copy of the strict books is complete (rolling restarts wait for it)');
});

admin('a target registered at runtime serves at once; replacing and deleting it take effect', async () => {
  const put = await request(`${node.url}/_sluice/targets/echo`, {
    method: 'PUT', headers: auth, body: JSON.stringify({ prefix: '/echo', replicas: [up.url] }),
  });
  assert.is(put.statusCode, 201);
  const described = (await put.body.json()) as { name: string; batch: { mode: string } };
  assert.is(described.name, 'echo');
  assert.is(described.batch.mode, 'coalesce', 'defaults filled in');
  assert.is(await (await request(`${node.url}/echo/a?b=1`)).body.text(), 'upstream saw /a?b=1');

  const list = (await (await request(`${node.url}/_sluice/targets`, { headers: auth })).body.json()) as Array<{ name: string }>;
  assert.equal(list.map((t) => t.name), ['echo']);

  const replaced = await request(`${node.url}/_sluice/targets/echo`, {
    method: 'PUT', headers: auth, body: JSON.stringify({ name: 'echo', prefix: '/echo2', replicas: [up.url] }),
  });
  assert.is(replaced.statusCode, 200);
  await replaced.body.dump();
  assert.is((await request(`${node.url}/echo/a`)).statusCode, 404);
  assert.is(await (await request(`${node.url}/echo2/z`)).body.text(), 'upstream saw /z');

  const del = await request(`${node.url}/_sluice/targets/echo`, { method: 'DELETE', headers: auth });
  assert.is(del.statusCode, 204);
  await del.body.dump();
  assert.is((await request(`${node.url}/echo2/z`)).statusCode, 404);
  assert.is((await request(`${node.url}/_sluice/targets/echo`, { headers: auth })).statusCode, 404);
});

admin('an invalid target is refused with the path, value and expectation of each fault', async () => {
  const r = await request(`${node.url}/_sluice/targets/bad`, {
    method: 'PUT', headers: auth, body: JSON.stringify({ prefix: 'nope', replicas: [], batch: { mode: 'sometimes' } }),
  });
  const p = (await r.body.json()) as { status: number; code: string; detail: string };
  assert.is(r.statusCode, 400);
  assert.is(p.code, 'SLUICE_INVALID_CONFIG');
  assert.match(p.detail, 'prefix: got "nope"');
  assert.match(p.detail, 'replicas: got [], expected at least 1 item(s)');
  assert.match(p.detail, 'batch.mode: got "sometimes"');
  const notJson = await request(`${node.url}/_sluice/targets/bad`, { method: 'PUT', headers: auth, body: '{' });
  assert.is(notJson.statusCode, 400);
  await notJson.body.dump();
});

admin('a second target cannot take a prefix another target serves', async () => {
  const a = await request(`${node.url}/_sluice/targets/one`, { method: 'PUT', headers: auth, body: JSON.stringify({ prefix: '/same', replicas: [up.url] }) });
  await a.body.dump();
  const b = await request(`${node.url}/_sluice/targets/two`, { method: 'PUT', headers: auth, body: JSON.stringify({ prefix: '/same', replicas: [up.url] }) });
  assert.is(b.statusCode, 400);
  assert.match(((await b.body.json()) as { detail: string }).detail, 'target one');
});

admin('metrics are Prometheus text with request counts and latency histograms', async () => {
  await (await request(`${node.url}/same/m`)).body.dump();
  const m = await (await request(`${node.url}/_sluice/metrics`, { headers: auth })).body.text();
  assert.match(m, /sluice_requests_total\{target="one",status="2xx",node="adm"\} 1/);
  assert.match(m, /sluice_request_duration_seconds_bucket\{le="\+Inf",target="one",node="adm"\} 1/);
  assert.match(m, /sluice_upstream_calls_total\{target="one",replica="http:\/\/127.0.0.1:\d+",outcome="2xx",node="adm"\} 1/);
});

const drain = suite('graceful drain');

drain('stop lets an in-flight request finish, refuses new ones, and closes', async () => {
  const release = deferred();
  const stub = await UpstreamStub.start(async (_r, res) => { await release.promise; res.end('finished'); });
  const n = await startNode({ targets: [{ name: 't', prefix: '/t', replicas: [stub.url] }] });
  const inflight = request(`${n.url}/t/slow`);
  await stub.arrived(1);
  const stopped = n.stop();
  const late = await request(`${n.url}/t/late`).then((r) => r.statusCode, () => 'refused');
  assert.ok(late === 'refused' || late === 503, `late request: ${late}`);
  release.resolve();
  const r = await inflight;
  assert.is(await r.body.text(), 'finished');
  await stopped;
  assert.is(await request(`${n.url}/t/x`).then(() => 'answered', () => 'refused'), 'refused');
  await stub.close();
});

admin.run();
drain.run();

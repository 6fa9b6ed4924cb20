// The adaptive policy's learned state through the admin API: read, loaded, refused by field.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const admin = suite('admin: learned policy state');
let up: UpstreamStub;
let node: SluiceNode;
const auth = { authorization: 'Bearer t0ken', 'content-type': 'application/json' };

admin.before(async () => {
  up = await UpstreamStub.start((_r, res) => { res.end('[]'); });
  node = await startNode({
    node: { id: 'p1' }, cluster: { name: 'c1' }, admin: { token: 't0ken' },
    targets: [
      { name: 'learn', prefix: '/learn', replicas: [up.url], batch: { mode: 'merge', policy: 'adaptive', adaptive: { latencyCostPerMs: 0.02 } } },
      { name: 'plain', prefix: '/plain', replicas: [up.url] },
    ],
  });
});
admin.after(async () => { await node.stop(); await up.close(); });

const url = (name: string) => `${node.url}/_sluice/targets/${name}/policy`;

admin('GET reads the learned state; PUT loads one and GET returns it', async () => {
  const before = await (await request(url('learn'), { headers: auth })).body.json() as Record<string, any>;
  assert.is(before.v, 1);
  assert.is(before.policy, 'adaptive');
  assert.is(before.latencyCostPerMs, 0.02);
  assert.is(before.batchCostExponent, 0.5); // merge's default
  const state = { ...before, joinShare: 0.6, observations: 42, latency: { mx: 4, my: 60, mxx: 20, mxy: 250, myy: 3_700, samples: 100 } };
  const put = await request(url('learn'), { method: 'PUT', headers: auth, body: JSON.stringify(state) });
  assert.is(put.statusCode, 200);
  await put.body.dump();
  const after = await (await request(url('learn'), { headers: auth })).body.json() as Record<string, any>;
  assert.is(after.joinShare, 0.6);
  assert.is(after.observations, 42);
  assert.equal(after.latency, state.latency);
  assert.ok(after.perItemMs > 0);
});

admin('a bad state is refused with 400 naming the field, and the running state stays', async () => {
  const before = await (await request(url('learn'), { headers: auth })).body.json() as Record<string, any>;
  const bad = await request(url('learn'), { method: 'PUT', headers: auth, body: JSON.stringify({ ...before, joinShare: 'lots' }) });
  assert.is(bad.statusCode, 400);
  assert.match(JSON.stringify(await bad.body.json()), 'joinShare');
  const notJson = await request(url('learn'), { method: 'PUT', headers: auth, body: '{' });
  assert.is(notJson.statusCode, 400);
  await notJson.body.dump();
  const after = await (await request(url('learn'), { headers: auth })).body.json();
  assert.equal(after, before);
});

admin('targets without a learned policy answer 404; the path needs the token', async () => {
  for (const name of ['plain', 'missing']) {
    const r = await request(url(name), { headers: auth });
    assert.is(r.statusCode, 404, name);
    await r.body.dump();
  }
  const none = await request(url('learn'));
  assert.is(none.statusCode, 401);
  await none.body.dump();
});

admin.run();

// Integration (real 3-server NATS cluster with JetStream): the response cache's shared tier. An answer
// fetched through one node is a hit at the others; a restarted node (empty memory) still hits; a
// killed NATS server loses no answer (the bucket has 3 replicas).
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import type { SluiceNode } from '../../src/node.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const js = suite('response cache JetStream tier on a NATS cluster integration', { timeoutMs: 60_000 });
let nats: NatsCluster;
let up: UpstreamStub;
const nodes: SluiceNode[] = [];
const cluster = `cachejs${process.pid}`;

async function node(id: string, server: string): Promise<SluiceNode> {
  const n = await startNode({
    node: { id }, cluster: { name: cluster, heartbeatMs: 200, deadAfterMs: 1_000 }, nats: { servers: [server] },
    targets: [{
      name: 'kb', prefix: '/kb', replicas: [up.url], retry: { attempts: 1 },
      cache: { enabled: true, store: 'jetstream', jetstreamReplicas: 3 },
    }],
  });
  nodes.push(n);
  await tierUp(n);
  return n;
}

/** Waits until the node's tier has opened the bucket (the meta leader is elected first). */
async function tierUp(n: SluiceNode, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (n.targets.get('kb')!.cache!.stats()['store'] !== 'jetstream') {
    if (Date.now() > deadline) throw new Error(`${n.id}: JetStream tier not up in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50)); // polling a readiness state, not standing in for sync
  }
}

const get = async (n: SluiceNode, path: string) => {
  const r = await request(`${n.url}${path}`);
  return { status: r.statusCode, cacheStatus: r.headers['cache-status'], body: await r.body.text() };
};
const settled = (n: SluiceNode) => n.targets.get('kb')!.cache!.tierSettled();

js.before(async () => {
  nats = await startNatsCluster(3, { jetstream: true });
  up = await UpstreamStub.start((r, res) => { res.writeHead(200, { 'cache-control': 'max-age=600' }); res.end(`answer for ${r.url}`); });
});
js.after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  await up.close();
  await nats.close();
});

js('a purge through the admin API reaches the shared tier', async () => {
  // First, while every NATS server is up: a purge during a leader election may miss the bucket.
  const n = await node('p1', nats.urls[0]!);
  await get(n, '/kb/purge-me');
  await settled(n);
  const calls = up.calls;
  const del = await request(`${n.url}/_sluice/targets/kb/cache?path=/purge-me`, { method: 'DELETE' });
  assert.is(del.statusCode, 200);
  await del.body.dump();
  const fresh = await node('p2', nats.urls[1]!);
  const after = await get(fresh, '/kb/purge-me');
  assert.match(String(after.cacheStatus), /^sluice; fwd=uri-miss/, JSON.stringify(after));
  assert.is(up.calls, calls + 1);
});

js('an answer fetched through one node is a hit at the others, a restarted node, and after a NATS server dies', async () => {
  const a = await node('a', nats.urls[0]!);
  const b = await node('b', nats.urls[1]!);
  const c = await node('c', nats.urls[2]!);

  const calls = up.calls;
  const first = await get(a, '/kb/doc?id=7');
  assert.is(first.cacheStatus, 'sluice; fwd=uri-miss; fwd-status=200; stored');
  await settled(a);
  for (const n of [b, c]) {
    const r = await get(n, '/kb/doc?id=7');
    assert.is(r.body, 'answer for /doc?id=7');
    assert.match(String(r.cacheStatus), /^sluice; hit; ttl=\d+$/, n.id);
  }
  assert.is(up.calls, calls + 1);

  // A restarted node starts with an empty memory tier: its hit can only come from the bucket.
  await b.stop();
  const b2 = await node('b2', nats.urls[1]!);
  assert.match(String((await get(b2, '/kb/doc?id=7')).cacheStatus), /^sluice; hit/);
  assert.is(up.calls, calls + 1);

  // Kill the server node a wrote through; a fresh node on another server still finds the answer.
  await nats.stop(nats.servers[0]!);
  const d = await node('d', nats.urls[2]!);
  const afterKill = await get(d, '/kb/doc?id=7');
  assert.is(afterKill.body, 'answer for /doc?id=7');
  assert.match(String(afterKill.cacheStatus), /^sluice; hit/);
  assert.is(up.calls, calls + 1);
});

js('without JetStream the node logs it, reports tier_up 0 and serves from memory alone', async () => {
  const plain = await startNatsCluster(1); // a lone server: no JetStream
  const lines: string[] = [];
  const n = await startNode({
    node: { id: 'nojs' }, cluster: { name: `${cluster}x` }, nats: { servers: plain.urls },
    targets: [{ name: 'kb', prefix: '/kb', replicas: [up.url], cache: { enabled: true, store: 'jetstream' } }],
  }, { log: (line) => lines.push(line) });
  try {
    await n.targets.get('kb')!.cache!.tierReady();
    assert.ok(lines.includes('cache: JetStream unavailable, serving from memory alone'), lines.join('\n'));
    const metrics = await (await request(`${n.url}/_sluice/metrics`)).body.text();
    assert.match(metrics, /sluice_cache_tier_up\{[^}]*target="kb"[^}]*\} 0/);
    const calls = up.calls;
    await get(n, '/kb/local');
    assert.match(String((await get(n, '/kb/local')).cacheStatus), /^sluice; hit/);
    assert.is(up.calls, calls + 1);
  } finally {
    await n.stop();
    await plain.close();
  }
});

js.run();

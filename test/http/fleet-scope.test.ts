// Fleet scope end to end, in process: three nodes on one LocalNetwork, real HTTP in and out, a real
// upstream stub counting calls (issue #10). A hot key's flights at non-owners go to its owner and
// share the owner's call; two users' credentials never share a call across nodes; the admin view
// and metrics show the forwards. Batches flush by size (owners wait for 3, non-owners go at once),
// so what shares a call is decided by the test, not by timing.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { Agent, request } from 'undici';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import { realClock } from '../../src/clock.ts';
import { coalesceKey } from '../../src/batch/index.ts';
import { ownerOf, ownerRing } from '../../src/cluster/rendezvous.ts';
import type { SluiceNode } from '../../src/node.ts';
import type { BatchRegistry, RegistryEvent } from '../../src/actors/batch-registry.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const fleet = suite('fleet scope over HTTP (3 nodes, LocalBus)', { timeoutMs: 60_000 });
const IDS = ['fa', 'fb', 'fc'];
const agent = new Agent({ connections: 50 });
let up: UpstreamStub;
const nodes = new Map<string, SluiceNode>();

const keyOf = (auth: string) => coalesceKey({ method: 'GET', path: '/item', query: '', headers: { authorization: auth } }, { vary: [], public: false });
const owner = (auth: string) => ownerOf(ownerRing(IDS), keyOf(auth))!;
const ALICE = 'Bearer alice';
const FRANK = 'Bearer frank';

fleet.before(async () => {
  up = await UpstreamStub.start();
  const net = new LocalNetwork(realClock);
  for (const id of IDS) {
    const node = await startNode({
      node: { id },
      cluster: { name: 'fleet', heartbeatMs: 30, deadAfterMs: 5_000 },
      targets: [{
        name: 'api', prefix: '/api', replicas: [up.url], retry: { attempts: 1 },
        batch: { mode: 'coalesce', scope: 'cluster', maxWaitMs: 60_000, maxBatchSize: 1 },
      }, {
        // A response cache at the owner of frank's key only: forwards are answered through it.
        name: 'cached', prefix: '/cached', replicas: [up.url], retry: { attempts: 1 },
        batch: { mode: 'coalesce', scope: 'cluster' }, cache: { enabled: id === owner(FRANK) },
      }, {
        // Defaults: no hold, joins in flight.
        name: 'join', prefix: '/join', replicas: [up.url], retry: { attempts: 1 }, batch: { mode: 'coalesce', scope: 'cluster' },
      }, {
        // The owner of alice's key waits for 3 clients; elsewhere a flight of one leaves at once.
        name: 'hot', prefix: '/hot', replicas: [up.url], retry: { attempts: 1 },
        batch: { mode: 'coalesce', scope: 'cluster', maxWaitMs: 60_000, maxBatchSize: id === owner(ALICE) ? 3 : 1 },
      }],
    }, { bus: net.connect(id) });
    nodes.set(id, node);
  }
  // Membership is heartbeats: wait (on its events) until every node sees all three.
  await Promise.all([...nodes.values()].map((n) => new Promise<void>((resolve) => {
    const check = () => { if (n.membership.liveIds().length === 3) { off(); resolve(); } };
    const off = n.membership.onChange(check);
    check();
  })));
});
fleet.after(async () => { await Promise.all([...nodes.values()].map((n) => n.stop())); await up.close(); await agent.close(); });

async function get(node: string, path: string, auth: string) {
  const r = await request(`${nodes.get(node)!.url}${path}`, { dispatcher: agent, headers: { authorization: auth } });
  return { status: r.statusCode, batch: String(r.headers['x-sluice-batch'] ?? ''), via: String(r.headers['x-sluice-node']), body: await r.body.text() };
}

const registryOf = (node: string, target: string) => nodes.get(node)!.targets.get(target)!.batching!.registry as BatchRegistry<unknown, unknown>;

function joins(node: string, target: string, n: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const off = registryOf(node, target).subscribe((e: RegistryEvent) => { if (e.type === 'waiter.joined' && ++seen === n) { off(); resolve(); } });
  });
}

fleet('a hot key requested at all three nodes costs one upstream call; every client gets the same answer and the fleet-wide size', async () => {
  const auth = ALICE;
  const own = owner(auth);
  const others = IDS.filter((id) => id !== own);
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`for ${r.headers.authorization}`); };
  // Warm: the first flight of a key at a non-owner is cold and called there (no hop for one-offs).
  for (const id of others) assert.is((await get(id, '/hot/item', auth)).status, 200);
  assert.is(up.calls, 2);
  up.calls = 0;
  const gate = deferred();
  up.handler = async (r, res) => { await gate.promise; res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`for ${r.headers.authorization}`); };
  const joined = joins(own, 'hot', 2);
  const remote = others.map((id) => get(id, '/hot/item', auth));
  await joined; // both forwards are waiting at the owner
  const local = get(own, '/hot/item', auth);
  await up.arrived(1);
  gate.resolve();
  const answers = await Promise.all([...remote, local]);
  assert.is(up.calls, 1, 'one call for the fleet');
  for (const a of answers) assert.equal([a.status, a.body], [200, 'for Bearer alice']);
  assert.equal(answers.map((a) => a.via), [...others, own], 'each client answered by the node it asked');
  const slots = new Set(answers.map((a) => a.batch.split(';')[0]));
  assert.is(slots.size, 1, `one call named in every answer: ${answers.map((a) => a.batch)}`);
  for (const a of answers.slice(0, 2)) assert.match(a.batch, /; size=3$/);
});

fleet('with the defaults, forwards join the owner\'s call in flight, and X-Sluice-Batch counts the clients of every node', async () => {
  const auth = 'Bearer erin';
  const own = owner(auth);
  const from = IDS.find((id) => id !== own)!;
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`for ${r.headers.authorization}`); };
  await get(from, '/join/item', auth); // cold: called at `from`
  up.calls = 0;
  const gate = deferred();
  up.handler = async (r, res) => { await gate.promise; res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`for ${r.headers.authorization}`); };
  const first = get(own, '/join/item', auth);
  await up.arrived(1); // the owner's call is in flight
  const joined = joins(own, 'join', 1);
  const remote = [1, 2, 3].map(() => get(from, '/join/item', auth));
  await joined; // the forward joined the call in flight
  gate.resolve();
  const answers = await Promise.all([first, ...remote]);
  assert.is(up.calls, 1, 'the forward joined the call in flight');
  for (const a of answers) assert.equal([a.status, a.body], [200, 'for Bearer erin']);
  assert.is(new Set(answers.map((a) => a.batch.split(';')[0])).size, 1, answers.map((a) => a.batch).join(' | '));
  // The forwarding node knows all 4; the owner knows the clients the forward carried when it left
  // (at least the first; the others may have joined the forwarding node's flight after).
  for (const a of answers.slice(1)) assert.match(a.batch, /; size=4$/, `the forwarding node counts the fleet's 4 clients: ${a.batch}`);
  const atOwner = Number(/size=(\d+)$/.exec(answers[0]!.batch)?.[1]);
  assert.ok(atOwner >= 2 && atOwner <= 4, `the owner counts its client and those carried: ${answers[0]!.batch}`);
});

fleet('a forward is answered through the owner\'s response cache', async () => {
  const own = owner(FRANK);
  const from = IDS.find((id) => id !== own)!;
  up.calls = 0;
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' }); res.end(`for ${r.headers.authorization}`); };
  await get(own, '/cached/item', FRANK); // fills the owner's cache
  await get(from, '/cached/item', FRANK); // cold at `from`: called there
  assert.is(up.calls, 2);
  const r = await request(`${nodes.get(from)!.url}/cached/item`, { dispatcher: agent, headers: { authorization: FRANK } });
  assert.is(await r.body.text(), 'for Bearer frank');

  assert.is(up.calls, 2, 'no call: the owner answered from its cache');
  assert.match(String(r.headers['cache-status']), /hit/);
});

fleet('two users\' credentials never share a call across nodes, and each forward carries its own', async () => {
  up.calls = 0;
  up.received.length = 0;
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`for ${r.headers.authorization}`); };
  const users = ['Bearer bob', 'Bearer carol'];
  const at = users.map((u) => IDS.find((id) => id !== owner(u))!);
  // Warm both keys at the nodes that will forward them (one local call each), then ask again.
  for (let i = 0; i < 2; i++) await get(at[i]!, '/api/item', users[i]!);
  up.calls = 0;
  up.received.length = 0;
  const answers = await Promise.all(users.map((u, i) => get(at[i]!, '/api/item', u)));
  assert.equal(answers.map((a) => a.body), ['for Bearer bob', 'for Bearer carol']);
  assert.is(up.calls, 2);
  assert.equal(up.received.map((r) => r.headers.authorization).sort(), ['Bearer bob', 'Bearer carol']);
  for (let i = 0; i < 2; i++) {
    const state = (nodes.get(at[i]!)!.targets.get('api')!.describe() as { batchState: { fleet: { forwardsSent: number } } }).batchState.fleet;
    assert.ok(state.forwardsSent >= 1, `${at[i]} forwarded: ${JSON.stringify(state)}`);
  }
});

fleet('the admin view and the metrics show forwards sent and served', async () => {
  const auth = 'Bearer dave';
  const own = owner(auth);
  const from = IDS.find((id) => id !== own)!;
  await get(from, '/api/item', auth); // cold: here
  await get(from, '/api/item', auth); // hot: at the owner
  const r = await request(`${nodes.get(from)!.url}/_sluice/targets/api`, { dispatcher: agent });
  const view = (await r.body.json()) as { batchState: { fleet: Record<string, unknown> } };
  assert.is(view.batchState.fleet.scope, 'cluster');
  assert.ok((view.batchState.fleet.forwardsReplied as number) >= 1);
  assert.ok((view.batchState.fleet.coldLocal as number) >= 1);
  const served = await request(`${nodes.get(own)!.url}/_sluice/metrics`, { dispatcher: agent });
  assert.match(await served.body.text(), /sluice_fleet_forwards_served_total\{[^}]*target="api"[^}]*\} [1-9]/);
  const sent = await request(`${nodes.get(from)!.url}/_sluice/metrics`, { dispatcher: agent });
  assert.match(await sent.body.text(), /sluice_fleet_forwards_sent_total\{[^}]*outcome="replied"[^}]*\} [1-9]/);
});

fleet.run();

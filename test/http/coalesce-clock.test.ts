// Coalescing triggers that depend on time, end to end on a node driven by a virtual clock: the
// `maxWaitMs` timer, a later trigger after the first (no second call), every client leaving before
// the flush, and each waiter's own deadline (`maxClientWaitMs`, 504) before and after the flush.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { Agent, request } from 'undici';
import { VirtualClock } from '../../src/clock.ts';
import type { SluiceNode } from '../../src/node.ts';
import type { BatchRegistry, RegistryEvent } from '../../src/actors/batch-registry.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const timed = suite('coalesce mode on a virtual clock');
let up: UpstreamStub;
let node: SluiceNode;
const clock = new VirtualClock(Date.now());
const agent = new Agent({ connections: 20 });

timed.before(async () => {
  up = await UpstreamStub.start();
  const target = (name: string, batch: Record<string, unknown>) => ({
    name, prefix: `/${name}`, replicas: [up.url], retry: { attempts: 1 }, batch: { mode: 'coalesce', ...batch },
  });
  node = await startNode({
    node: { id: 'co-clock' },
    targets: [
      target('timer', { maxWaitMs: 50, maxBatchSize: 100 }),
      target('pair', { maxWaitMs: 50, maxBatchSize: 2 }),
      target('wait', { maxWaitMs: 1_200, maxBatchSize: 100, maxClientWaitMs: 1_000 }),
      target('waitpair', { maxWaitMs: 5_000, maxBatchSize: 2, maxClientWaitMs: 1_000 }),
    ],
  }, { clock });
});
timed.after(async () => { await node.stop(); await up.close(); await agent.close(); });
timed.before.each(() => {
  up.calls = 0;
  up.handler = (r, res) => { res.writeHead(200); res.end(`body of ${r.url}`); };
});

const registryOf = (name: string) => node.targets.get(name)!.batching!.registry as BatchRegistry<unknown, unknown>;

function events(name: string, pred: (e: RegistryEvent) => boolean, n = 1): Promise<RegistryEvent[]> {
  const seen: RegistryEvent[] = [];
  return new Promise((resolve) => {
    const off = registryOf(name).subscribe((e) => { if (pred(e) && seen.push(e) === n) { off(); resolve(seen); } });
  });
}

async function get(path: string, signal?: AbortSignal) {
  const r = await request(`${node.url}${path}`, { dispatcher: agent, ...(signal ? { signal } : {}) });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

timed('a slot flushes on its timer exactly maxWaitMs after it opened', async () => {
  const joined = events('timer', (e) => e.type === 'waiter.joined', 2);
  const flushed = events('timer', (e) => e.type === 'slot.flushed');
  let flushedYet = false;
  void flushed.then(() => { flushedYet = true; });
  const answers = Promise.all([get('/timer/a'), get('/timer/a')]);
  await joined;
  clock.advance(49);
  await new Promise((r) => setImmediate(r));
  assert.not.ok(flushedYet);
  assert.is(up.calls, 0);
  clock.advance(1);
  const e = (await flushed)[0]!;
  assert.equal(e.type === 'slot.flushed' && [e.reason, e.size], ['timer', 2]);
  const got = await answers;
  assert.ok(got.every((a) => a.body === 'body of /a'));
  assert.is(up.calls, 1);
});

timed('the timer firing after a size flush changes nothing: one call, one answer each', async () => {
  const gate = deferred();
  up.handler = async (_r, res) => { await gate.promise; res.end('once'); };
  const flushes: string[] = [];
  const off = registryOf('pair').subscribe((e) => { if (e.type === 'slot.flushed') flushes.push(e.reason); });
  const answers = Promise.all([get('/pair/x'), get('/pair/x')]);
  await up.arrived(1);
  clock.advance(50); // the slot's timer would be due now; it was cleared at the size flush
  gate.resolve();
  const got = await answers;
  off();
  assert.equal(flushes, ['size']);
  assert.equal(got.map((a) => a.body), ['once', 'once']);
  assert.is(up.calls, 1);
});

timed('clients that all leave before the flush cost no upstream call', async () => {
  const joined = events('timer', (e) => e.type === 'waiter.joined', 2);
  const done = events('timer', (e) => e.type === 'slot.done');
  const acs = [new AbortController(), new AbortController()];
  const gets = acs.map((ac) => get('/timer/gone', ac.signal).catch((e: Error) => e.name));
  await joined;
  for (const ac of acs) ac.abort();
  const e = (await done)[0]!;
  assert.equal(e.type === 'slot.done' && e.outcome, 'cancelled');
  clock.advance(1_000);
  assert.is(up.calls, 0);
  assert.equal(await Promise.all(gets), ['AbortError', 'AbortError']);
  assert.is(registryOf('timer').liveSlots, 0);
});

timed('each waiter has its own deadline: the first is answered 504 while the second still gets the reply', async () => {
  const firstJoined = events('wait', (e) => e.type === 'waiter.joined');
  const first = get('/wait/x');
  await firstJoined;
  clock.advance(500);
  const secondJoined = events('wait', (e) => e.type === 'waiter.joined');
  let secondDone = false;
  const second = get('/wait/x').finally(() => { secondDone = true; });
  await secondJoined;
  const left = events('wait', (e) => e.type === 'waiter.left');
  clock.advance(500); // the first waiter's deadline
  const a = await first;
  assert.is(a.status, 504);
  assert.is(a.headers['x-sluice-node'], 'co-clock');
  assert.is((JSON.parse(a.body) as { code: string }).code, 'SLUICE_CLIENT_DEADLINE');
  await left;
  assert.not.ok(secondDone);
  const flushed = events('wait', (e) => e.type === 'slot.flushed');
  clock.advance(200); // the slot's timer, 1 200 ms after it opened: before the second waiter's deadline
  const f = (await flushed)[0]!;
  assert.equal(f.type === 'slot.flushed' && f.size, 1, 'the departed waiter is not in the call');
  const b = await second;
  assert.is(b.status, 200);
  assert.is(b.body, 'body of /x');
  assert.is(up.calls, 1);
});

timed('a deadline passing during the upstream call answers that waiter 504 and leaves the call to the others', async () => {
  const gate = deferred();
  const upstreamDone = deferred<boolean>();
  up.handler = async (_r, res) => {
    res.on('close', () => upstreamDone.resolve(res.writableFinished));
    await gate.promise;
    res.end('late but fine');
  };
  const firstJoined = events('waitpair', (e) => e.type === 'waiter.joined');
  const first = get('/waitpair/y');
  await firstJoined;
  clock.advance(600);
  const second = get('/waitpair/y'); // fills the slot: flushed for size, the call goes out
  await up.arrived(1);
  const left = events('waitpair', (e) => e.type === 'waiter.left');
  clock.advance(400); // the first waiter's deadline, 1 000 ms after it came
  const a = await first;
  assert.is(a.status, 504);
  assert.match(String(a.headers['content-type']), /problem\+json/);
  await left;
  gate.resolve();
  const b = await second;
  assert.is(b.status, 200);
  assert.is(b.body, 'late but fine');
  assert.is(await upstreamDone.promise, true, 'the call was not aborted');
  assert.is(up.calls, 1);
});

timed.run();

// Coalescing end to end on the real clock: a node in front of a real upstream stub on loopback.
// Slots here flush by size (maxWaitMs is a minute), so every burst's batching is deterministic;
// timer flushes and deadlines are in coalesce-clock.test.ts on a virtual clock.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { Agent, request } from 'undici';
import type { SluiceNode } from '../../src/node.ts';
import type { BatchRegistry, RegistryEvent } from '../../src/actors/batch-registry.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';
import { deadReplica, type DeadReplica } from '../support/ports.ts';

const coalescing = suite('coalesce mode', { timeoutMs: 60_000 }); // a load test spawns hundreds of calls
let up: UpstreamStub;
let node: SluiceNode;
const agent = new Agent({ connections: 600, pipelining: 0 });
let dead: DeadReplica;

const target = (name: string, batch: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name, prefix: `/${name}`, replicas: [up.url], retry: { attempts: 1 },
  batch: { mode: 'coalesce', maxWaitMs: 60_000, ...batch }, ...extra,
});

coalescing.before(async () => {
  up = await UpstreamStub.start();
  dead = await deadReplica();
  node = await startNode({
    node: { id: 'co-1' },
    targets: [
      target('burst', { maxBatchSize: 500 }),
      target('auth', { maxBatchSize: 250 }),
      target('cap', { maxBatchSize: 3 }),
      target('pair', { maxBatchSize: 2 }),
      target('slow', { maxBatchSize: 3 }, { timeoutMs: 150 }),
      target('load', { maxBatchSize: 10, maxWaitMs: 10 }),
      { ...target('dead', { maxBatchSize: 3 }), replicas: [dead.url] },
    ],
  });
});
coalescing.after(async () => { await node.stop(); await up.close(); await agent.close(); await dead.close(); });
coalescing.before.each(() => {
  up.calls = 0;
  up.received.length = 0;
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`body of ${r.url}`); };
});

const registryOf = (name: string) => node.targets.get(name)!.batching!.registry as BatchRegistry<unknown, unknown>;

/** Resolves with the first registry event of `name` matching `pred` from now on. */
function nextEvent(name: string, pred: (e: RegistryEvent) => boolean): Promise<RegistryEvent> {
  return new Promise((resolve) => {
    const off = registryOf(name).subscribe((e) => { if (pred(e)) { off(); resolve(e); } });
  });
}

/** Resolves once `n` waiters have joined `name`'s slots from now on. */
function joins(name: string, n: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const off = registryOf(name).subscribe((e) => { if (e.type === 'waiter.joined' && ++seen === n) { off(); resolve(); } });
  });
}

/** Fails the test instead of hanging it when `p` never settles (the feature under test broke). */
function within<T>(p: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const fail = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen`)), ms); });
  return Promise.race([p, fail]).finally(() => clearTimeout(timer));
}

async function get(path: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const r = await request(`${node.url}${path}`, { dispatcher: agent, headers, ...(signal ? { signal } : {}) });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

coalescing('500 concurrent identical GETs cost exactly one upstream call, and every client gets the same body', async () => {
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ url: r.url, n: up.calls })); };
  const answers = await Promise.all(Array.from({ length: 500 }, () => get('/burst/item?id=7')));
  assert.is(up.calls, 1);
  const bodies = new Set(answers.map((a) => a.body));
  assert.equal([...bodies], [JSON.stringify({ url: '/item?id=7', n: 1 })]);
  assert.ok(answers.every((a) => a.status === 200 && a.headers['x-sluice-node'] === 'co-1'));
  const batchIds = new Set(answers.map((a) => a.headers['x-sluice-batch']));
  assert.is(batchIds.size, 1);
  assert.match([...batchIds][0] as string, /^\S+; size=500$/);
  assert.is(registryOf('burst').liveSlots, 0);
});

coalescing('the same burst with two Authorization values costs exactly two calls, and nobody sees the other\'s body', async () => {
  up.handler = (r, res) => { res.writeHead(200); res.end(`for ${r.headers.authorization}`); };
  const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => {
    const who = i % 2 === 0 ? 'Bearer alice' : 'Bearer bob';
    return get('/auth/me', { authorization: who }).then((a) => ({ who, ...a }));
  }));
  assert.is(up.calls, 2);
  for (const a of answers) assert.is(a.body, `for ${a.who}`);
});

coalescing('a slot flushes for size exactly when the maxBatchSize-th request joins', async () => {
  const flushed = nextEvent('cap', (e) => e.type === 'slot.flushed');
  const joined = joins('cap', 2);
  const first = [get('/cap/x'), get('/cap/x')];
  await joined;
  assert.is(up.calls, 0);
  assert.is(registryOf('cap').liveSlots, 1);
  const third = get('/cap/x');
  const e = await flushed;
  assert.equal(e.type === 'slot.flushed' && [e.reason, e.size], ['size', 3]);
  const answers = await Promise.all([...first, third]);
  assert.is(up.calls, 1);
  assert.ok(answers.every((a) => a.body === 'body of /x' && /; size=3$/.test(String(a.headers['x-sluice-batch']))));
});

coalescing('requests in other methods pass through uncoalesced', async () => {
  await Promise.all([1, 2, 3].map(() => request(`${node.url}/cap/x`, { dispatcher: agent, method: 'POST', body: 'b' }).then((r) => r.body.text())));
  assert.is(up.calls, 3);
});

coalescing('a Set-Cookie reply goes to the first waiter only; the others go upstream on their own, in parallel', async () => {
  const gate = deferred();
  up.handler = async (r, res) => {
    const n = up.calls;
    if (n === 1) await gate.promise;
    // The two individual calls answer only once both have arrived: sent one after another, they would never finish.
    else if (n <= 3) await up.arrived(3);
    res.writeHead(200, { 'set-cookie': `session=${n}`, 'content-type': 'text/plain' });
    res.end(`private ${n}`);
  };
  const joined = joins('cap', 3);
  const answers = Promise.all([0, 1, 2].map(() => get('/cap/private')));
  await joined;
  gate.resolve();
  const got = await within(answers, 'the individual calls, made in parallel,');
  assert.is(up.calls, 3);
  const shared = got.filter((a) => a.headers['x-sluice-batch'] !== undefined);
  assert.is(shared.length, 1, 'only the first waiter got the batch reply');
  assert.is(shared[0]!.body, 'private 1');
  assert.equal(got.map((a) => a.body).sort(), ['private 1', 'private 2', 'private 3']);
  for (const a of got) assert.is(a.headers['set-cookie'], `session=${a.body.slice('private '.length)}`);

  // The key now passes through for a while: no slot, straight upstream.
  let joinedAfter = 0;
  const off = registryOf('cap').subscribe((e) => { if (e.type === 'waiter.joined') joinedAfter++; });
  const later = await get('/cap/private');
  off();
  assert.is(later.body, 'private 4');
  assert.is(joinedAfter, 0);
  assert.is(later.headers['x-sluice-batch'], undefined);
});

coalescing('Cache-Control: private and no-store replies are not shared either', async () => {
  for (const cc of ['private, max-age=60', 'no-store']) {
    up.calls = 0;
    up.handler = (_r, res) => { res.writeHead(200, { 'cache-control': cc }); res.end(`n=${up.calls}`); };
    const got = await Promise.all([0, 1].map(() => get(`/pair/${cc.length}`)));
    assert.is(up.calls, 2, cc);
    assert.equal(got.map((a) => a.body).sort(), ['n=1', 'n=2']);
  }
});

coalescing('one waiter disconnecting after flush leaves the others\' answers intact, and the call is not aborted', async () => {
  const gate = deferred();
  const upstreamDone = deferred<boolean>();
  const big = 'y'.repeat(256 * 1024);
  up.handler = async (_r, res) => {
    res.on('close', () => upstreamDone.resolve(res.writableFinished));
    await gate.promise;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(big);
  };
  const leaver = new AbortController();
  const left = nextEvent('cap', (e) => e.type === 'waiter.left');
  const gone = get('/cap/big', {}, leaver.signal).catch((e: Error) => e.name);
  const stay = [get('/cap/big'), get('/cap/big')];
  await up.arrived(1);
  leaver.abort();
  await left;
  gate.resolve();
  const got = await Promise.all(stay);
  assert.ok(got.every((a) => a.status === 200 && a.body === big));
  assert.is(await upstreamDone.promise, true, 'the upstream answered in full');
  assert.is(await gone, 'AbortError');
  assert.is(up.calls, 1);
});

coalescing('the upstream call is aborted once every waiter has left', async () => {
  const closed = deferred<boolean>();
  up.handler = (_r, res) => { res.on('close', () => closed.resolve(res.writableFinished)); };
  const acs = [new AbortController(), new AbortController()];
  const done = nextEvent('pair', (e) => e.type === 'slot.done');
  const gets = acs.map((ac) => get('/pair/hang', {}, ac.signal).catch(() => 'aborted'));
  await up.arrived(1);
  for (const ac of acs) ac.abort();
  assert.is(await within(closed.promise, 'the abort of the upstream call'), false, 'the upstream connection was cut before an answer');
  assert.equal(await Promise.all(gets), ['aborted', 'aborted']);
  await done;
  assert.is(registryOf('pair').liveSlots, 0);
});

coalescing('an upstream 5xx reply reaches every waiter as it came', async () => {
  up.handler = (_r, res) => { res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '3' }); res.end('down for a bit'); };
  const got = await Promise.all([0, 1, 2].map(() => get('/cap/sick')));
  assert.is(up.calls, 1);
  for (const a of got) {
    assert.is(a.status, 503);
    assert.is(a.body, 'down for a bit');
    assert.is(a.headers['retry-after'], '3');
  }
});

coalescing('an unreachable upstream reaches every waiter as the same 502 problem', async () => {
  const got = await Promise.all([0, 1, 2].map(() => get('/dead/x')));
  const bodies = got.map((a) => JSON.parse(a.body) as { status: number; code: string; detail: string });
  for (const [i, a] of got.entries()) {
    assert.is(a.status, 502);
    assert.is(a.headers['content-type'], 'application/problem+json');
    assert.is(bodies[i]!.code, 'SLUICE_UPSTREAM_UNAVAILABLE');
    assert.match(String(a.headers['x-sluice-batch']), /; size=3$/);
    assert.is(a.headers['x-sluice-node'], 'co-1');
  }
  assert.is(new Set(bodies.map((b) => b.detail)).size, 1);
});

coalescing('an upstream timeout reaches every waiter as the same 504 problem', async () => {
  const never = deferred();
  up.handler = async (_r, res) => { await never.promise; res.end(); };
  const got = await Promise.all([0, 1, 2].map(() => get('/slow/x')));
  never.resolve();
  assert.is(up.calls, 1);
  for (const a of got) {
    assert.is(a.status, 504);
    assert.is((JSON.parse(a.body) as { code: string }).code, 'SLUICE_UPSTREAM_TIMEOUT');
  }
});

coalescing('a streamed (SSE) reply is teed to every waiter chunk by chunk', async () => {
  const gate = deferred();
  up.handler = async (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: one\n\n');
    await gate.promise;
    res.end('data: two\n\n');
  };
  const streams = await Promise.all([0, 1].map(() => request(`${node.url}/pair/events`, { dispatcher: agent })));
  const readers = streams.map((s) => s.body[Symbol.asyncIterator]());
  // Both waiters have the first event while the upstream is still holding the second.
  for (const r of readers) assert.is(String((await within(r.next(), 'the first event before the second was sent')).value), 'data: one\n\n');
  gate.resolve();
  for (const r of readers) {
    let rest = '';
    for (let c = await r.next(); !c.done; c = await r.next()) rest += String(c.value);
    assert.is(rest, 'data: two\n\n');
  }
  assert.is(up.calls, 1);
  for (const s of streams) assert.is(s.headers['content-type'], 'text/event-stream');
});

coalescing('no live slot is left after a load test, and the metrics add up', async () => {
  const keys = 10;
  const total = 1_000;
  const got = await Promise.all(Array.from({ length: total }, (_, i) => get(`/load/k${i % keys}`)));
  assert.ok(got.every((a, i) => a.status === 200 && a.body === `body of /k${i % keys}`));
  assert.ok(up.calls < total, `batching saved calls (${up.calls} for ${total})`);
  assert.is(registryOf('load').liveSlots, 0);
  assert.is(registryOf('load').openSlots, 0);
  const text = await (await request(`${node.url}/_sluice/metrics`, { dispatcher: agent })).body.text();
  assert.match(text, /sluice_batch_live_slots\{[^}]*target="load"[^}]*\} 0/);
  const replied = Number(/sluice_batch_waiters_answered_total\{[^}]*target="load"[^}]*outcome="replied"[^}]*\} (\d+)/.exec(text)?.[1]);
  assert.is(replied, total);
  const saved = Number(/sluice_batch_upstream_calls_saved_total\{[^}]*target="load"[^}]*\} (\d+)/.exec(text)?.[1]);
  assert.is(saved, total - up.calls);
  assert.match(text, /sluice_batch_flushes_total\{[^}]*target="load"[^}]*reason="(timer|size)"/);
  assert.match(text, /sluice_batch_size_bucket\{[^}]*target="load"/);
});

coalescing.run();

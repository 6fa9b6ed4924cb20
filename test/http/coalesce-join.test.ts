// Join in flight, end to end (issue #10): a node on a virtual clock (only deadlines need time; with
// `maxWaitMs: 0` nothing else waits) in front of a real upstream stub on loopback. Requests identical
// to one whose call is in the air join it before its head, or get the head and the whole body while
// it streams; after the reply is complete a new request makes a new call. Upstream calls are counted
// at the stub; synchronisation is on registry events and stub arrivals, never on sleeps.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Agent, request } from 'undici';
import { VirtualClock } from '../../src/clock.ts';
import type { SluiceNode } from '../../src/node.ts';
import type { BatchRegistry, RegistryEvent } from '../../src/actors/batch-registry.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const joining = suite('coalesce: join in flight');
let up: UpstreamStub;
let node: SluiceNode;
const clock = new VirtualClock(Date.now());
const agent = new Agent({ connections: 50 });
const BOUND = 4_096;

joining.before(async () => {
  up = await UpstreamStub.start();
  const target = (name: string, batch: Record<string, unknown> = {}) => ({
    name, prefix: `/${name}`, replicas: [up.url], retry: { attempts: 1 }, batch: { mode: 'coalesce', ...batch },
  });
  node = await startNode({
    node: { id: 'join-1' },
    targets: [target('j'), target('bound', { maxJoinBytes: BOUND }), target('wait', { maxClientWaitMs: 1_000 })],
  }, { clock });
});
joining.after(async () => { await node.stop(); await up.close(); await agent.close(); });
joining.before.each(() => {
  up.calls = 0;
  up.received.length = 0;
  up.handler = (r, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`body of ${r.url}`); };
});

const registryOf = (name: string) => node.targets.get(name)!.batching!.registry as BatchRegistry<unknown, unknown>;

/** Resolves with the first `n` registry events of `name` matching `pred` from now on. */
function events(name: string, pred: (e: RegistryEvent) => boolean, n = 1): Promise<RegistryEvent[]> {
  const seen: RegistryEvent[] = [];
  return new Promise((resolve) => {
    const off = registryOf(name).subscribe((e) => { if (pred(e) && seen.push(e) === n) { off(); resolve(seen); } });
  });
}
const joinedIn = (name: string, phase: string, n = 1) =>
  events(name, (e) => e.type === 'waiter.joined' && e.phase === phase, n);

/** Fails the test instead of hanging it when `p` never settles (the feature under test broke). */
function within<T>(p: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const fail = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen`)), ms); });
  return Promise.race([p, fail]).finally(() => clearTimeout(timer));
}

async function get(path: string, signal?: AbortSignal) {
  const r = await request(`${node.url}${path}`, { dispatcher: agent, ...(signal ? { signal } : {}) });
  return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
}

const sizeOf = (h: Record<string, unknown>): number => Number(/size=(\d+)/.exec(String(h['x-sluice-batch']))?.[1]);

/** An upstream answer written by the test chunk by chunk. */
function streamed(): { res: Promise<ServerResponse>; handler: (r: unknown, res: ServerResponse) => Promise<void> } {
  const got = deferred<ServerResponse>();
  return { res: got.promise, handler: async (_r, res) => { got.resolve(res); await new Promise(() => {}); } };
}

joining('requests arriving before the head join the call in flight: one upstream call, one answer each, size counts them all', async () => {
  const gate = deferred();
  up.handler = async (_r, res) => { await gate.promise; res.writeHead(200); res.end('shared'); };
  const first = get('/j/a');
  await up.arrived(1);
  const joined = joinedIn('j', 'before_head', 4);
  const later = [1, 2, 3, 4].map(() => get('/j/a'));
  await within(joined, 'four joins before the head');
  gate.resolve();
  const answers = await Promise.all([first, ...later]);
  assert.is(up.calls, 1);
  assert.ok(answers.every((a) => a.status === 200 && a.body.toString() === 'shared'));
  assert.equal(new Set(answers.map((a) => a.headers['x-sluice-batch'])).size, 1, 'one call, one slot');
  assert.ok(answers.every((a) => sizeOf(a.headers) === 5));
  assert.is(registryOf('j').liveSlots, 0);
});

joining('a request joining while the body streams gets the head and a byte-identical body from its first byte', async () => {
  const chunks = [randomBytes(64 * 1024), randomBytes(48 * 1024), randomBytes(80 * 1024), randomBytes(7)];
  const whole = Buffer.concat(chunks);
  const s = streamed();
  up.handler = s.handler;
  const replied = events('j', (e) => e.type === 'slot.replied');
  const firstReq = request(`${node.url}/j/big`, { dispatcher: agent });
  const res = await s.res;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(whole.length) });
  res.write(chunks[0]);
  const first = await firstReq;
  assert.is(first.statusCode, 200);
  await replied;
  // The first client has its first bytes: the body is streaming when the joiners arrive.
  const firstBody = first.body.arrayBuffer();
  res.write(chunks[1]);
  const joined = joinedIn('j', 'during_body', 2);
  const late = [get('/j/big'), get('/j/big')];
  await within(joined, 'two joins during the body');
  res.write(chunks[2]);
  res.end(chunks[3]);
  const got = await Promise.all(late);
  assert.ok(Buffer.from(await firstBody).equals(whole));
  for (const a of got) {
    assert.is(a.status, 200);
    assert.is(a.body.length, whole.length);
    assert.ok(a.body.equals(whole), 'byte-identical to what the upstream sent');
  }
  assert.is(up.calls, 1);
  // Each late head carries the count when it was written: the first client, then each joiner.
  assert.equal(got.map((a) => sizeOf(a.headers)).sort(), [2, 3]);
  assert.is(sizeOf(first.headers), 1);
});

joining('after the reply is complete, the next identical request makes a new call', async () => {
  const done = events('j', (e) => e.type === 'slot.done');
  const a = await get('/j/again');
  await done;
  const b = await get('/j/again');
  assert.is(a.body.toString(), 'body of /again');
  assert.is(b.body.toString(), 'body of /again');
  assert.is(up.calls, 2);
  assert.is(registryOf('j').liveSlots, 0);
});

joining('a body past maxJoinBytes takes no more joiners: a late request opens a new call, the first still gets it all', async () => {
  const big = randomBytes(BOUND + 1);
  const s = streamed();
  up.handler = s.handler;
  const firstReq = request(`${node.url}/bound/x`, { dispatcher: agent });
  const res = await s.res;
  res.writeHead(200, { 'content-length': String(big.length + 3) });
  const overflowed = events('bound', (e) => e.type === 'slot.done');
  res.write(big);
  await within(overflowed, 'the slot ending at the bound');
  up.handler = (_r, r2) => { r2.writeHead(200); r2.end('second call'); };
  const late = await get('/bound/x');
  assert.is(late.body.toString(), 'second call');
  assert.is(up.calls, 2);
  res.end('end');
  const first = await firstReq;
  assert.ok(Buffer.from(await first.body.arrayBuffer()).equals(Buffer.concat([big, Buffer.from('end')])));
});

joining('a body within maxJoinBytes still takes joiners', async () => {
  const s = streamed();
  up.handler = s.handler;
  const replied = events('bound', (e) => e.type === 'slot.replied');
  const firstReq = request(`${node.url}/bound/small`, { dispatcher: agent });
  const res = await s.res;
  res.writeHead(200, { 'content-length': String(BOUND) });
  res.write(Buffer.alloc(BOUND - 1, 1));
  await replied;
  const joined = joinedIn('bound', 'during_body');
  const late = get('/bound/small');
  await within(joined, 'a join within the bound');
  res.end(Buffer.alloc(1, 2));
  const [a, b] = await Promise.all([firstReq.then(async (r) => Buffer.from(await r.body.arrayBuffer())), late]);
  assert.ok(a.equals(b.body));
  assert.is(up.calls, 1);
});

joining('a private reply is not shared with joiners: they go upstream on their own, and later requests pass through', async () => {
  const gate = deferred();
  up.handler = async (_r, res) => {
    const n = up.calls;
    if (n === 1) await gate.promise;
    res.writeHead(200, { 'set-cookie': `s=${n}` });
    res.end(`private ${n}`);
  };
  const first = get('/j/me');
  await up.arrived(1);
  const joined = joinedIn('j', 'before_head', 2);
  const later = [get('/j/me'), get('/j/me')];
  await within(joined, 'two joins before the head');
  gate.resolve();
  const got = await Promise.all([first, ...later]);
  assert.is(up.calls, 3, 'one shared call, then one each for the joiners');
  assert.equal(got.map((a) => a.body.toString()).sort(), ['private 1', 'private 2', 'private 3']);
  for (const a of got) assert.is(a.headers['set-cookie'], `s=${a.body.toString().slice('private '.length)}`);
  const after = await get('/j/me');
  assert.is(after.body.toString(), 'private 4');
  assert.is(after.headers['x-sluice-batch'], undefined, 'the key passes through uncoalesced');
});

joining('a joiner leaving before the head does not abort the call; the others are answered', async () => {
  const gate = deferred();
  const finished = deferred<boolean>();
  up.handler = async (_r, res) => {
    res.on('close', () => finished.resolve(res.writableFinished));
    await gate.promise;
    res.end('still here');
  };
  const first = get('/j/leave');
  await up.arrived(1);
  const joined = joinedIn('j', 'before_head', 2);
  const ac = new AbortController();
  const leaving = get('/j/leave', ac.signal).catch((e: Error) => e.name);
  const staying = get('/j/leave');
  await within(joined, 'two joins');
  const left = events('j', (e) => e.type === 'waiter.left');
  ac.abort();
  await within(left, 'the joiner leaving');
  gate.resolve();
  const [a, b] = await Promise.all([first, staying]);
  assert.is(await leaving, 'AbortError');
  assert.is(a.body.toString(), 'still here');
  assert.is(b.body.toString(), 'still here');
  assert.is(await finished.promise, true, 'the upstream call ran to its end');
  assert.is(sizeOf(a.headers), 2, 'the joiner that left is not counted');
  assert.is(up.calls, 1);
});

joining('the call is aborted only when every waiter, joiners included, has left', async () => {
  const finished = deferred<boolean>();
  up.handler = async (_r, res) => { res.on('close', () => finished.resolve(res.writableFinished)); await new Promise(() => {}); };
  const acs = [new AbortController(), new AbortController(), new AbortController()];
  const first = get('/j/abort', acs[0]!.signal).catch((e: Error) => e.name);
  await up.arrived(1);
  const joined = joinedIn('j', 'before_head', 2);
  const others = acs.slice(1).map((ac) => get('/j/abort', ac.signal).catch((e: Error) => e.name));
  await within(joined, 'two joins');
  let closedEarly = false;
  void finished.promise.then(() => { closedEarly = true; });
  const lefts = events('j', (e) => e.type === 'waiter.left', 2);
  acs[0]!.abort();
  acs[1]!.abort();
  await within(lefts, 'two leaving');
  await new Promise((r) => setImmediate(r));
  assert.not.ok(closedEarly, 'one waiter still there: the call goes on');
  const done = events('j', (e) => e.type === 'slot.done');
  acs[2]!.abort();
  assert.is(await within(finished.promise, 'the upstream call being aborted'), false);
  const d = (await within(done, 'the slot ending'))[0]!;
  assert.equal(d.type === 'slot.done' && d.outcome, 'failed');
  assert.equal(await Promise.all([first, ...others]), ['AbortError', 'AbortError', 'AbortError']);
  // The key is free again: the next request makes a new call.
  up.handler = (_r, res) => { res.end('fresh'); };
  assert.is((await get('/j/abort')).body.toString(), 'fresh');
  assert.is(up.calls, 2);
});

joining('a joiner leaving mid-body ends only its own copy; the others get the whole body', async () => {
  const s = streamed();
  up.handler = s.handler;
  const replied = events('j', (e) => e.type === 'slot.replied');
  const firstReq = request(`${node.url}/j/midleave`, { dispatcher: agent });
  const res = await s.res;
  res.writeHead(200, { 'content-length': '6' });
  res.write('abc');
  await replied;
  const ac = new AbortController();
  const joined = joinedIn('j', 'during_body');
  const leaver = request(`${node.url}/j/midleave`, { dispatcher: agent, signal: ac.signal });
  await within(joined, 'a join during the body');
  const lr = await leaver;
  assert.is(lr.statusCode, 200);
  ac.abort();
  await lr.body.text().catch(() => 'aborted');
  res.end('def');
  const first = await firstReq;
  assert.is(await first.body.text(), 'abcdef');
  assert.is(up.calls, 1);
});

joining('each waiter keeps its own deadline: a joiner past maxClientWaitMs gets 504, the call goes on for the others', async () => {
  const gate = deferred();
  up.handler = async (_r, res) => { await gate.promise; res.end('late but fine'); };
  const first = get('/wait/d');
  await up.arrived(1);
  clock.advance(500);
  const joined = joinedIn('wait', 'before_head');
  const joiner = get('/wait/d');
  await within(joined, 'a join');
  const left = events('wait', (e) => e.type === 'waiter.left');
  clock.advance(500); // the first request's deadline, not yet the joiner's
  const a = await first;
  assert.is(a.status, 504);
  await left;
  gate.resolve();
  const b = await joiner;
  assert.is(b.status, 200);
  assert.is(b.body.toString(), 'late but fine');
  assert.is(up.calls, 1);
});

joining('every client is answered exactly once: the answered counter matches the requests sent', async () => {
  const metric = async () => {
    const text = await (await request(`${node.url}/_sluice/metrics`, { dispatcher: agent })).body.text();
    return [...text.matchAll(/^sluice_batch_waiters_answered_total\{[^}]*target="j"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  const before = await metric();
  const gate = deferred();
  up.handler = async (_r, res) => { await gate.promise; res.end('x'); };
  const first = get('/j/count');
  await up.arrived(1);
  const joined = joinedIn('j', 'before_head', 9);
  const rest = Array.from({ length: 9 }, () => get('/j/count'));
  await within(joined, 'nine joins');
  gate.resolve();
  await Promise.all([first, ...rest]);
  assert.is(await metric() - before, 10);
  assert.is(up.calls, 1);
});

joining('/_sluice/targets/<name> and the metrics show joins in flight and the calls they saved', async () => {
  const state = async () => {
    const t = JSON.parse(await (await request(`${node.url}/_sluice/targets/j`, { dispatcher: agent })).body.text()) as { batchState: Record<string, number> };
    return t.batchState;
  };
  const joinsMetric = async (phase: string) => {
    const text = await (await request(`${node.url}/_sluice/metrics`, { dispatcher: agent })).body.text();
    const m = new RegExp(`^sluice_batch_joins_in_flight_total\\{[^}]*target="j"[^}]*phase="${phase}"[^}]*\\} (\\d+)`, 'm').exec(text)
      ?? new RegExp(`^sluice_batch_joins_in_flight_total\\{[^}]*phase="${phase}"[^}]*target="j"[^}]*\\} (\\d+)`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  const before = await state();
  const metricBefore = await joinsMetric('before_head');
  const gate = deferred();
  up.handler = async (_r, res) => { await gate.promise; res.end('seen'); };
  const done = events('j', (e) => e.type === 'slot.done');
  const first = get('/j/seen');
  await up.arrived(1);
  const joined = joinedIn('j', 'before_head', 2);
  const rest = [get('/j/seen'), get('/j/seen')];
  await within(joined, 'two joins');
  gate.resolve();
  await Promise.all([first, ...rest]);
  await done;
  const after = await state();
  assert.is(after.joinsBeforeHead! - before.joinsBeforeHead!, 2);
  assert.is(after.upstreamCalls! - before.upstreamCalls!, 1);
  assert.is(after.callsSaved! - before.callsSaved!, 2);
  assert.is(await joinsMetric('before_head') - metricBefore, 2);
});

joining.run();

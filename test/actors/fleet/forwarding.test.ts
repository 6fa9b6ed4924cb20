// Fleet-scope forwarding over LocalBus on a virtual clock (issue #10): a non-owner's flight is
// answered by the owner, bodies larger than one bus message arrive byte-identical both ways, and a
// dead, slow or partitioned owner costs a local call — never a lost, doubled or hung answer.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { VirtualClock } from '../../../src/clock.ts';
import { LocalNetwork, type LocalBus } from '../../../src/bus/local-bus.ts';
import { FleetScope, type OwnerReply } from '../../../src/actors/fleet/fleet-scope.ts';
import type { ForwardedRequest } from '../../../src/actors/fleet/forward-server.ts';
import type { ForwardResponse } from '../../../src/actors/fleet/forward-response.ts';
import type { ForwardRequest } from '../../../src/actors/fleet/forward-client.ts';
import { FleetMetrics } from '../../../src/actors/fleet/fleet-metrics.ts';
import { NodeMetrics } from '../../../src/metrics.ts';

const TIMEOUT_MS = 100;
const ALIVE_MS = 25;
const CHUNK = 1024;

interface Served { req: ForwardedRequest; res: ForwardResponse; gone: AbortSignal }

function cluster(ids = ['a', 'b', 'c'], delayMs: (from: string, to: string) => number = () => 0) {
  const clock = new VirtualClock(1_000);
  const net = new LocalNetwork(clock, { delayMs });
  const buses = new Map<string, LocalBus>();
  const scopes = new Map<string, FleetScope>();
  const served = new Map<string, Served[]>();
  const metrics = new Map<string, FleetMetrics>();
  for (const id of ids) {
    metrics.set(id, FleetMetrics.for(new NodeMetrics()));
    const bus = net.connect(id);
    const scope = new FleetScope(bus, clock, { liveIds: () => ids, onChange: () => () => {} },
      { nodeId: id, cluster: 't', timeoutMs: TIMEOUT_MS, suspectMs: 5_000, maxBodyBytes: 1 << 20, chunkBytes: CHUNK, aliveMs: ALIVE_MS }, metrics.get(id));
    const mine: Served[] = [];
    served.set(id, mine);
    scope.serveWith({ accepts: (t) => t === 'api', serve: (req, res, gone) => { mine.push({ req, res, gone }); } });
    scope.start();
    buses.set(id, bus);
    scopes.set(id, scope);
  }
  /** Moves virtual time and lets promise callbacks and stream events run in between. */
  const run = async (ms: number, step = 1) => {
    for (let t = 0; t <= ms; t += step) {
      clock.advance(t === 0 ? 0 : step);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    }
  };
  const malformed = async (id: string) => (await metrics.get(id)!.malformed.get()).values[0]?.value ?? 0;
  return { clock, net, buses, scopes, served, run, malformed };
}

const request = (over: Partial<ForwardRequest> = {}): ForwardRequest => ({
  target: 'api', method: 'GET', path: '/x', query: 'q=1', headers: { authorization: 'Bearer u1', accept: 'application/json' },
  ip: '10.0.0.9', tls: false, clients: 3, ...over,
});

/** One forward with a counting local fallback; `answers` counts every way the call ended. */
function forward(scope: FleetScope, owner: string, req = request(), signal?: AbortSignal) {
  const out = { answers: 0, local: 0, reply: undefined as OwnerReply | undefined, error: undefined as unknown };
  const done = scope.call<OwnerReply | 'local'>(owner, req, signal, async () => { out.local++; return 'local'; }, (r) => r)
    .then((v) => { out.answers++; if (v !== 'local') out.reply = v; }, (e: unknown) => { out.answers++; out.error = e; });
  return { out, done };
}

function collect(body: Readable): { bytes: () => Buffer; ended: () => boolean; failed: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false, failed = false;
  body.on('data', (c: Buffer) => chunks.push(c));
  body.on('end', () => { ended = true; });
  body.on('error', () => { failed = true; });
  return { bytes: () => Buffer.concat(chunks), ended: () => ended, failed: () => failed };
}

const fwd = suite('fleet forwarding over LocalBus');

fwd('the owner gets the request as sent, and its reply streams back whole; bodies of several bus messages are byte-identical', async () => {
  const c = cluster();
  const reqBody = randomBytes(5 * CHUNK + 17);
  const replyBody = randomBytes(7 * CHUNK + 3);
  const f = forward(c.scopes.get('b')!, 'a', request({ method: 'GET', body: reqBody }));
  await c.run(2);
  const [s] = c.served.get('a')!;
  assert.ok(s, 'the owner was asked');
  assert.equal(
    { target: s!.req.target, from: s!.req.from, method: s!.req.method, path: s!.req.path, query: s!.req.query, headers: s!.req.headers, ip: s!.req.ip, clients: s!.req.clients },
    { target: 'api', from: 'b', method: 'GET', path: '/x', query: 'q=1', headers: { authorization: 'Bearer u1', accept: 'application/json' }, ip: '10.0.0.9', clients: 3 },
  );
  assert.ok(s!.req.body!.equals(reqBody), 'request body byte-identical across 6 messages');
  s!.res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-sluice-batch': 's1; size=4' });
  // Written in odd pieces, without Content-Length: one message per write, the end in a last one.
  for (let at = 0; at < replyBody.length; at += 700) s!.res.write(replyBody.subarray(at, at + 700));
  s!.res.end();
  await c.run(2);
  assert.is(f.out.answers, 1);
  assert.is(f.out.local, 0);
  const got = collect(f.out.reply!.body);
  await c.run(2);
  assert.is(f.out.reply!.status, 200);
  assert.is(f.out.reply!.headers['x-sluice-batch'], 's1; size=4');
  assert.ok(got.ended());
  assert.ok(got.bytes().equals(replyBody), 'reply body byte-identical across 8 messages');
  assert.is(c.scopes.get('b')!.client.inFlight, 0);
  assert.is(c.scopes.get('a')!.server.heldCount, 0);
  assert.equal(c.scopes.get('a')!.describe('api').callsSaved, 1, 'served by a call of size 4');
});

fwd('a small reply with Content-Length is one message: head, body and end together', async () => {
  const c = cluster();
  let messages = 0;
  c.buses.get('b')!.subscribe('sluice.t.fwd.reply.b', () => { messages++; });
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(2);
  const { res } = c.served.get('a')![0]!;
  res.writeHead(200, { 'content-length': 5 });
  res.write(Buffer.from('hello'));
  await c.run(2);
  assert.is(messages, 1);
  const got = collect(f.out.reply!.body);
  await c.run(1);
  assert.is(got.bytes().toString(), 'hello');
  res.end(); // the tee's end after the last byte sends nothing more
  await c.run(2);
  assert.is(messages, 1);
});

fwd('a streamed reply (no Content-Length, SSE) reaches the requester write by write, not when a chunk fills', async () => {
  const c = cluster();
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(2);
  const { res } = c.served.get('a')![0]!;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: one\n\n');
  await c.run(2);
  assert.ok(f.out.reply, 'the head came with the first event');
  const got = collect(f.out.reply!.body);
  await c.run(2);
  assert.is(got.bytes().toString(), 'data: one\n\n');
  res.write('data: two\n\n');
  await c.run(2);
  assert.is(got.bytes().toString(), 'data: one\n\ndata: two\n\n');
  assert.not.ok(got.ended());
  res.end();
  await c.run(2);
  assert.ok(got.ended());
});

fwd('a dead owner (nobody subscribed) falls back at once, and is left out of ownership afterwards', async () => {
  const c = cluster();
  await c.buses.get('a')!.close();
  const b = c.scopes.get('b')!;
  const f = forward(b, 'a');
  await c.run(1);
  assert.equal(f.out, { ...f.out, answers: 1, local: 1 });
  assert.equal((b.describe('api') as { ownerFallbacks: unknown }).ownerFallbacks, { 'no-responders': 1 });
  // Every key is now owned by b or c as seen from b.
  for (let i = 0; i < 200; i++) assert.is.not(b.ownerOf(`k${i}`), 'a');
  c.clock.advance(5_000);
  assert.ok(Array.from({ length: 200 }, (_, i) => b.ownerOf(`k${i}`)).includes('a'), 'after suspectMs a owns keys again');
});

fwd('a slow owner (ack later than the deadline) costs a local call; its late answer is ignored', async () => {
  const c = cluster(['a', 'b', 'c'], (from, to) => (from === 'a' || to === 'a' ? TIMEOUT_MS : 0));
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(TIMEOUT_MS + 5);
  assert.is(f.out.answers, 1);
  assert.is(f.out.local, 1);
  // The owner got the request late and answers anyway: nothing reaches the finished forward.
  const s = c.served.get('a')![0];
  s?.res.writeHead(200, { 'content-length': 2 });
  s?.res.end('ok');
  await c.run(3 * TIMEOUT_MS, 5);
  assert.is(f.out.answers, 1, 'exactly one answer');
  assert.equal((c.scopes.get('b')!.describe('api') as { ownerFallbacks: unknown }).ownerFallbacks, { timeout: 1 });
});

fwd('an owner partitioned away before the forward: no one reachable, local call', async () => {
  const c = cluster();
  c.net.partition([['a'], ['b', 'c']]);
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(2);
  assert.equal([f.out.answers, f.out.local], [1, 1]);
});

fwd('an owner partitioned away after the ack, before the head: the forward is retried locally within the silence bound', async () => {
  const c = cluster();
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(2);
  assert.is(c.served.get('a')!.length, 1, 'the owner holds it');
  c.net.partition([['a'], ['b', 'c']]);
  await c.run(TIMEOUT_MS - ALIVE_MS - 5, 5);
  assert.is(f.out.answers, 0, 'still waiting within the bound');
  await c.run(ALIVE_MS + 10, 5);
  assert.equal([f.out.answers, f.out.local], [1, 1]);
  assert.equal((c.scopes.get('b')!.describe('api') as { ownerFallbacks: unknown }).ownerFallbacks, { lost: 1 });
});

fwd('a held forward stays alive past the silence bound while the owner keeps saying so', async () => {
  const c = cluster();
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(5 * TIMEOUT_MS, 5); // a slow upstream at the owner: five silence bounds long
  assert.is(f.out.answers, 0);
  const { res } = c.served.get('a')![0]!;
  res.writeHead(200, { 'content-length': 2 });
  res.end('ok');
  await c.run(2);
  assert.equal([f.out.answers, f.out.local], [1, 0]);
});

fwd('an owner that dies mid-body: the body fails (a cut, counted), never hangs', async () => {
  const c = cluster();
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(2);
  const { res } = c.served.get('a')![0]!;
  res.writeHead(200, {});
  res.write(randomBytes(2 * CHUNK));
  await c.run(2);
  const got = collect(f.out.reply!.body);
  await c.buses.get('a')!.close();
  await c.run(2 * TIMEOUT_MS, 5);
  assert.ok(got.failed(), 'the body failed');
  assert.not.ok(got.ended());
  assert.is((c.scopes.get('b')!.describe('api') as { forwardsCut: number }).forwardsCut, 1);
});

fwd('the requester leaving cancels the owner\'s side (its waiter leaves there too)', async () => {
  const c = cluster();
  const abort = new AbortController();
  const f = forward(c.scopes.get('b')!, 'a', request(), abort.signal);
  await c.run(2);
  const s = c.served.get('a')![0]!;
  abort.abort();
  await c.run(2);
  assert.is(f.out.answers, 1);
  assert.is(f.out.local, 0, 'a cancelled forward makes no call');
  assert.ok(s.gone.aborted);
  assert.ok(s.res.destroyed);
  assert.is(c.scopes.get('a')!.server.heldCount, 0);
});

fwd('malformed messages on both subjects are dropped and counted, never thrown', async () => {
  const c = cluster();
  const b = c.buses.get('b')!;
  b.publishRaw('sluice.t.fwd.a', new TextEncoder().encode('not json'));
  b.publish('sluice.t.fwd.a', { p: 1, t: 'open', id: 'x' });
  b.publish('sluice.t.fwd.a', { p: 99, t: 'cancel', id: 'x', from: 'b' });
  b.publish('sluice.t.fwd.reply.b', { p: 1, t: 'head', id: 'nope', from: 'a', status: 'x' });
  b.publish('sluice.t.fwd.reply.b', { p: 1, t: 'head', id: 'nope', from: 'a', status: 200, headers: {}, data: '', end: true });
  await c.run(2);
  assert.is(c.buses.get('a')!.stats.malformed, 1, 'not an envelope: counted by the bus');
  assert.is(await c.malformed('a'), 2, 'an open missing its fields, an unknown protocol version');
  assert.is(await c.malformed('b'), 2, 'a head that does not parse, a head for no forward held');
  const f = forward(c.scopes.get('b')!, 'a');
  await c.run(2);
  assert.is(c.served.get('a')!.length, 1, 'still serving after the garbage');
  assert.is(f.out.answers, 0);
});

fwd('an owner that does not serve the target refuses: the requester calls at once', async () => {
  const c = cluster();
  const f = forward(c.scopes.get('b')!, 'a', request({ target: 'other' }));
  await c.run(2);
  assert.equal([f.out.answers, f.out.local], [1, 1]);
});

fwd.run();

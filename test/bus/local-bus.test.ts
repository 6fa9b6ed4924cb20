import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import type { Json } from '../../src/bus/bus.ts';
import { ErrorCode, type SluiceError } from '../../src/errors.ts';

const local = suite('LocalBus');

function net(faults = {}) {
  const clock = new VirtualClock();
  return { clock, network: new LocalNetwork(clock, faults) };
}

local('delivers a publish to every matching subscriber after the injected delay', () => {
  const { clock, network } = net({ delayMs: () => 10 });
  const a = network.connect('a'); const b = network.connect('b'); const c = network.connect('c');
  const got: string[] = [];
  b.subscribe('sluice.x.hb.*', (m) => got.push(`b:${m.subject}:${JSON.stringify(m.data)}`));
  c.subscribe('sluice.x.>', (m) => got.push(`c:${m.subject}`));
  a.publish('sluice.x.hb.a', { n: 1 });
  clock.advance(9);
  assert.equal(got, []);
  clock.advance(1);
  assert.equal(got.sort(), ['b:sluice.x.hb.a:{"n":1}', 'c:sluice.x.hb.a']);
});

local('a queue group hands each message to exactly one member', () => {
  const { clock, network } = net();
  const pub = network.connect('p');
  const counts = [0, 0, 0];
  counts.forEach((_, i) => network.connect(`w${i}`).subscribe('work', () => counts[i]!++, { queue: 'workers' }));
  for (let i = 0; i < 30; i++) pub.publish('work', i);
  clock.advance(0);
  assert.is(counts.reduce((s, n) => s + n, 0), 30);
  assert.ok(counts.every((n) => n === 10), `spread evenly: ${counts}`);
});

local('request resolves with the reply, and times out on the clock when nobody answers in time', async () => {
  const { clock, network } = net({ delayMs: () => 5 });
  const a = network.connect('a'); const b = network.connect('b');
  b.subscribe('echo', (m) => m.respond?.({ echoed: m.data }));
  const p = a.request('echo', 'hi', 100);
  clock.advance(10);
  assert.equal(await p, { echoed: 'hi' });

  b.subscribe('slow', () => { /* never answers */ });
  const q = a.request('slow', 1, 100).catch((e: SluiceError) => e.code);
  clock.advance(100);
  assert.is(await q, ErrorCode.BusTimeout);
});

local('request with no subscriber fails at once with NoResponders, as NATS does', async () => {
  const { network } = net();
  const err = await network.connect('a').request('nobody', 1, 1000).catch((e: SluiceError) => e.code);
  assert.is(err, ErrorCode.NoResponders);
});

local('a partition stops delivery between groups until healed', () => {
  const { clock, network } = net();
  const a = network.connect('a'); const b = network.connect('b');
  const got: Json[] = [];
  b.subscribe('s', (m) => got.push(m.data));
  network.partition([['a'], ['b']]);
  a.publish('s', 1);
  clock.advance(1);
  network.heal();
  a.publish('s', 2);
  clock.advance(1);
  assert.equal(got, [2]);
});

local('drops and duplicates follow the injected random source', () => {
  const { clock, network } = net();
  const a = network.connect('a'); const b = network.connect('b');
  let got = 0;
  b.subscribe('s', () => got++);
  network.faults = { dropRate: 0.5, random: () => 0.4 };
  a.publish('s', 1);
  clock.advance(0);
  assert.is(got, 0, 'dropped');
  network.faults = { duplicateRate: 0.5, random: () => 0.4 };
  a.publish('s', 1);
  clock.advance(0);
  assert.is(got, 2, 'duplicated');
});

local('malformed and unknown-version messages are dropped and counted, never delivered', () => {
  const { clock, network } = net();
  const a = network.connect('a'); const b = network.connect('b');
  let got = 0;
  b.subscribe('s', () => got++);
  const enc = new TextEncoder();
  a.publishRaw('s', enc.encode('not json'));
  a.publishRaw('s', enc.encode('{"v":99,"d":1}'));
  a.publishRaw('s', enc.encode('[1,2]'));
  a.publishRaw('s', new Uint8Array([0xff, 0xfe]));
  a.publish('s', 'ok');
  clock.advance(0);
  assert.is(got, 1);
  assert.is(b.stats.malformed, 4);
  assert.is(b.stats.received, 1);
});

local('a throwing subscriber does not break delivery to others', () => {
  const { clock, network } = net();
  const a = network.connect('a');
  let got = 0;
  network.connect('b').subscribe('s', () => { throw new Error('bug'); });
  network.connect('c').subscribe('s', () => got++);
  a.publish('s', 1);
  clock.advance(0);
  assert.is(got, 1);
});

local('a closed endpoint neither sends nor receives', async () => {
  const { clock, network } = net();
  const a = network.connect('a'); const b = network.connect('b');
  let got = 0;
  b.subscribe('s', () => got++);
  await b.close();
  a.publish('s', 1);
  clock.advance(0);
  assert.is(got, 0);
});

local('with a max payload, as NATS: a larger publish is dropped and counted, a larger request rejects, a larger reply is lost', async () => {
  const clock = new VirtualClock();
  const network = new LocalNetwork(clock, {}, { maxPayloadChars: 100 });
  const a = network.connect('a');
  const b = network.connect('b');
  const got: number[] = [];
  b.subscribe('x', (m) => got.push((m.data as string).length));
  a.publish('x', 'y'.repeat(50));
  a.publish('x', 'y'.repeat(200));
  clock.advance(0);
  assert.equal(got, [50], 'only the small one arrived');
  assert.is(network.oversized, 1);
  assert.is(a.stats.dropped, 1, 'the sender counts the publish it could not send');
  const err = await a.request('x', 'y'.repeat(200), 10).then(() => undefined, (e: SluiceError) => e.code);
  assert.is(err, ErrorCode.PayloadTooLarge);
  b.subscribe('echo', (m) => m.respond?.('y'.repeat(Number(m.data))));
  const small = a.request('echo', 10, 10);
  clock.advance(0);
  assert.is(await small, 'y'.repeat(10));
  const large = a.request('echo', 500, 10).then(() => undefined, (e: SluiceError) => e.code);
  clock.advance(10);
  assert.is(await large, ErrorCode.BusTimeout, 'the reply was too large to send');
  assert.is(network.oversized, 3);
});

local('without a max payload (the default) any size goes', () => {
  const { clock, network } = net();
  let got = 0;
  network.connect('b').subscribe('x', (m) => { got = (m.data as string).length; });
  network.connect('a').publish('x', 'y'.repeat(2_000_000));
  clock.advance(0);
  assert.is(got, 2_000_000);
  assert.is(network.oversized, 0);
});

local.run();

import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { Counter, Histogram, Registry } from 'prom-client';
import { VirtualClock } from '../../../src/clock.ts';
import { DashboardFeed, type DashboardState, type FeedEvent } from '../../../src/http/dashboard/feed.ts';
import { readingsOf } from '../../../src/http/dashboard/readings.ts';

const STATE: DashboardState = { node: 'n1', cluster: 'c', nodes: ['n1'], singleton: 'n1', targets: [] };

function setup(opts: { sampleMs?: number; points?: number } = {}) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: 'n1' });
  const requests = new Counter({ name: 'req_total', help: 'h', labelNames: ['target'], registers: [registry] });
  const clock = new VirtualClock(10_000_500);
  const feed = new DashboardFeed({ metrics: () => registry.getMetricsAsJSON(), state: () => STATE }, clock,
    { sampleMs: opts.sampleMs ?? 1_000, points: opts.points ?? 5, maxSubscribers: 2 });
  return { registry, requests, clock, feed };
}

function subscriber(room = Infinity) {
  const got: FeedEvent[] = [];
  let closed = 0;
  return { got, get closed() { return closed; }, sub: { send: (e: FeedEvent) => { if (got.length >= room) return false; got.push(e); return true; }, close: () => { closed++; } } };
}

/** Settles the promise chain of a sample fired by the virtual clock. */
const settle = () => new Promise((r) => setImmediate(r));

const feed = suite('dashboard feed');

feed('samples on step boundaries of its clock, and sends each sample to every page watching', async () => {
  const { requests, clock, feed: f } = setup();
  const page = subscriber();
  f.subscribe(page.sub);
  f.start();
  requests.inc({ target: 't' }, 5);
  clock.advance(499);
  await settle();
  assert.is(f.sampleCount, 0, 'not before the boundary');
  clock.advance(1);
  await settle();
  assert.is(f.sampleCount, 1);
  requests.inc({ target: 't' }, 30);
  clock.advance(1_000);
  await settle();
  requests.inc({ target: 't' }, 10);
  clock.advance(1_000);
  await settle();
  assert.is(f.sampleCount, 3);
  assert.equal(page.got.map((e) => e.type), ['snapshot', 'tick', 'tick', 'tick']);
  const ticks = page.got.slice(1).map((e) => (e.type === 'tick' ? e.data : undefined)!);
  assert.equal(ticks.map((t) => t.t), [10_001_000, 10_002_000, 10_003_000]);
  const id = 'req_total{target="t"}:rate';
  assert.equal(ticks.map((t) => t.values[id]), [null, 30, 10], 'counted per second, the node label left out');
  assert.equal(ticks[0]!.added.map((s) => s.id), [id]);
  assert.equal(ticks[2]!.state, STATE);
  f.stop();
});

feed('a page that connects later gets the window so far, then the ticks', async () => {
  const { requests, clock, feed: f } = setup({ points: 3 });
  f.start();
  for (let i = 0; i < 4; i++) {
    requests.inc({ target: 't' }, 2);
    clock.advance(1_000);
    await settle();
  }
  const page = subscriber();
  f.subscribe(page.sub);
  const first = page.got[0]!;
  assert.is(first.type, 'snapshot');
  if (first.type !== 'snapshot') return;
  assert.is(first.data.window.t.length, 3, 'the last `points` samples');
  assert.equal(first.data.window.series.find((s) => s.id === 'req_total{target="t"}:rate')!.values, [2, 2, 2]);
  assert.is(first.data.sampleMs, 1_000);
  f.stop();
});

feed('a page that cannot keep up is dropped; stop ends every stream; too many pages are refused', async () => {
  const { clock, feed: f } = setup();
  const slow = subscriber(2);
  const fast = subscriber();
  assert.ok(f.subscribe(slow.sub));
  assert.ok(f.subscribe(fast.sub));
  assert.not.ok(f.subscribe(subscriber().sub), 'maxSubscribers is 2');
  f.start();
  clock.advance(1_000);
  await settle();
  clock.advance(1_000);
  await settle();
  assert.is(slow.closed, 1);
  assert.is(f.watching, 1);
  f.stop();
  assert.is(fast.closed, 1);
  assert.is(f.watching, 0);
  clock.advance(5_000);
  await settle();
  assert.is(f.sampleCount, 2, 'no sample after stop');
});

feed('readings come from whatever the registry holds: a histogram whole, its sum and count left out', async () => {
  const registry = new Registry();
  registry.setDefaultLabels({ node: 'n1' });
  const h = new Histogram({ name: 'dur_seconds', help: 'h', labelNames: ['target'], buckets: [0.1, 1], registers: [registry] });
  h.observe({ target: 'a' }, 0.05);
  h.observe({ target: 'a' }, 0.5);
  const later = new Counter({ name: 'cache_hits_total', help: 'h', labelNames: ['target'], registers: [registry] });
  later.inc({ target: 'a' });
  const r = readingsOf(await registry.getMetricsAsJSON());
  assert.equal(r, [
    { kind: 'histogram', name: 'dur_seconds', labels: { target: 'a' }, bounds: [0.1, 1, Infinity], counts: [1, 2, 2] },
    { kind: 'counter', name: 'cache_hits_total', labels: { target: 'a' }, value: 1 },
  ]);
});

feed.run();

// The upstream pacer spaces calls by theoretical arrival time on the injected clock.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../src/clock.ts';
import { GcraUpstreamPacer } from '../../src/actors/pacer.ts';

const pacer = suite('upstream pacer');

function released(clock: VirtualClock, p: GcraUpstreamPacer, n: number, signals: AbortSignal[] = []) {
  const at: number[] = [];
  const all = Array.from({ length: n }, (_, i) => p.acquire(signals[i]).then(() => { at.push(clock.now()); }, () => {}));
  return { at, all };
}

pacer('spaces calls windowMs / quota apart, the first at once', async () => {
  const clock = new VirtualClock(1_000);
  const p = new GcraUpstreamPacer({ quota: 4, windowMs: 1_000 }, clock);
  const r = released(clock, p, 4);
  for (let i = 0; i < 3; i++) { await new Promise(setImmediate); clock.advance(250); }
  await Promise.all(r.all);
  assert.equal(r.at, [1_000, 1_250, 1_500, 1_750]);
});

pacer('an idle spell is not banked: after it, calls are spaced again', async () => {
  const clock = new VirtualClock(0);
  const p = new GcraUpstreamPacer({ quota: 2, windowMs: 1_000 }, clock);
  await p.acquire();
  clock.advance(10_000);
  const r = released(clock, p, 2);
  await new Promise(setImmediate);
  clock.advance(500);
  await Promise.all(r.all);
  assert.equal(r.at, [10_000, 10_500]);
});

pacer('a waiting call whose client leaves drops out without taking a slot', async () => {
  const clock = new VirtualClock(0);
  const p = new GcraUpstreamPacer({ quota: 1, windowMs: 100 }, clock);
  const gone = new AbortController();
  const r = released(clock, p, 3, [new AbortController().signal, gone.signal, new AbortController().signal]);
  await new Promise(setImmediate);
  assert.is(p.waiting, 2);
  gone.abort();
  await new Promise(setImmediate);
  assert.is(p.waiting, 1);
  clock.advance(100);
  await Promise.all(r.all);
  assert.equal(r.at, [0, 100], 'the third call takes the second slot');
});

pacer.run();

// The in-process bus's copy of a message must be exactly what a JSON round trip gives (values, key
// order), frozen all the way down, or refuse so the caller takes the round trip.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { frozenJsonCopy, NOT_PLAIN } from '../../src/bus/json-copy.ts';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import type { Json } from '../../src/bus/bus.ts';

const copy = suite('frozen JSON copy');

const roundTrip = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null');

/** Same structure, key order and values (Object.is, so -0 and 0 differ); arrays stay arrays. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function deeplyFrozen(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  return Object.isFrozen(v) && Object.values(v).every(deeplyFrozen);
}

// JSON-ish values with the things a round trip changes mixed in: undefined, -0, NaN, functions, Dates, holes.
const odd = fc.oneof(fc.constant(undefined), fc.constant(-0), fc.constant(Number.NaN), fc.constant(() => 1),
  fc.constant(new Date(0)), fc.constant([1, , 3]), fc.constant(new Map()), fc.constant(Infinity));
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 2 }), odd, fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('0', '10', '__proto__', 'constructor')), tie('v'), { maxKeys: 4 })),
})).v;

copy('equals the JSON round trip, key order included, frozen; otherwise says NOT_PLAIN', () => {
  fc.assert(fc.property(value, (v) => {
    const c = frozenJsonCopy(v);
    if (c === NOT_PLAIN) return;
    assert.ok(same(c, roundTrip(v)), `${JSON.stringify(c)} vs the round trip's ${JSON.stringify(roundTrip(v))}`);
    assert.ok(deeplyFrozen(c), 'frozen all the way down');
  }), { numRuns: 2_000 });
});

copy('plain data is copied, not shared; what a round trip would change is refused', () => {
  const src = { a: [1, { b: 'x' }], c: null, d: -0, skip: undefined };
  const c = frozenJsonCopy(src) as { a: [number, { b: string }]; d: number };
  assert.is.not(c.a, src.a);
  assert.equal(c, { a: [1, { b: 'x' }], c: null, d: 0 });
  assert.ok(Object.is(c.d, 0));
  for (const bad of [undefined, Number.NaN, Infinity, 1n, new Date(0), new Map(), [1, , 2], [undefined], { toJSON: () => 1 },
    JSON.parse('{"__proto__": 1}'), () => 1]) {
    assert.is(frozenJsonCopy(bad), NOT_PLAIN, String(bad));
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.is(frozenJsonCopy(cyclic), NOT_PLAIN);
});

copy('LocalBus delivers what NATS would, for plain and non-plain payloads alike', () => {
  const clock = new VirtualClock();
  const network = new LocalNetwork(clock);
  const a = network.connect('a');
  const got: Json[] = [];
  a.subscribe('s', (m) => got.push(m.data));
  const sent: unknown[] = [{ n: 1, when: new Date(0), gone: undefined }, [1, Number.NaN], JSON.parse('{"__proto__": 2}'), { x: [1, 2] }];
  for (const s of sent) a.publish('s', s as Json);
  clock.advance(1);
  assert.is(got.length, sent.length);
  got.forEach((g, i) => assert.ok(same(g, roundTrip(sent[i])), `message ${i}: ${JSON.stringify(g)}`));
  assert.ok(got.every(deeplyFrozen));
});

copy.run();

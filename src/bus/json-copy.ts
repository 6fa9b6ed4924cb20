// The value a JSON round trip (stringify, then parse) would give, built directly and frozen: the
// in-process bus copies every message this way instead of printing and parsing it, which was most of
// a 50-node simulation's bus cost. Only plain data is copied here (plain objects and arrays, strings,
// finite numbers, booleans, null); anything a round trip would change or refuse (toJSON, Dates, Maps,
// NaN, holes, undefined in arrays, BigInt, cycles, a "__proto__" key) answers NOT_PLAIN, and the
// caller takes the real round trip.
import type { Json } from './bus.ts';

export const NOT_PLAIN: unique symbol = Symbol('not plain JSON');

/** Deeper than this is treated as not plain (the round trip then decides, cycles included). */
const MAX_DEPTH = 64;

export function frozenJsonCopy(v: unknown): Json | typeof NOT_PLAIN {
  return copy(v, 0);
}

function copy(v: unknown, depth: number): Json | typeof NOT_PLAIN {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v)) return NOT_PLAIN;
      return v === 0 ? 0 : v; // -0 prints as 0
    case 'object':
      break;
    default:
      return NOT_PLAIN; // undefined, functions, symbols, BigInt
  }
  if (v === null) return null;
  if (depth >= MAX_DEPTH) return NOT_PLAIN;
  const proto = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    const a = v as unknown[];
    if ('toJSON' in a) return NOT_PLAIN;
    const out: Json[] = new Array(a.length);
    for (let i = 0; i < a.length; i++) {
      if (!(i in a)) return NOT_PLAIN;
      const c = copy(a[i], depth + 1);
      if (c === NOT_PLAIN) return NOT_PLAIN;
      out[i] = c;
    }
    return Object.freeze(out) as Json;
  }
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const o = v as Record<string, unknown>;
  if ('toJSON' in o) return NOT_PLAIN;
  const out: Record<string, Json> = {};
  for (const k of Object.keys(o)) {
    if (k === '__proto__') return NOT_PLAIN;
    const x = o[k];
    // Stringify leaves these properties out.
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
    const c = copy(x, depth + 1);
    if (c === NOT_PLAIN) return NOT_PLAIN;
    out[k] = c;
  }
  return Object.freeze(out);
}

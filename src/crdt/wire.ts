// Checks shared by the CRDT decoders. Wire input is `unknown` until proven otherwise.

/** A count on the wire: a non-negative safe integer (larger ones lose precision in JSON). */
export const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** A JSON object, as opposed to null, an array or a scalar. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

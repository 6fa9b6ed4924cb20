// Lists too large for one bus message go in parts, each under a budget of JSON characters. NATS
// refuses a payload over its max_payload (1 MiB by default) and the bus drops such a publish silently,
// so a list that grows with the number of keys (a voter's copy of the strict books, a replication
// request) must never be sent whole. Pure: sizes come from JSON.stringify, nothing is sent here.

/**
 * Largest list part, in JSON characters: a quarter of NATS's default max_payload, so the envelope and
 * the other fields fit beside it, and even keys of 3-byte UTF-8 characters stay under 1 MiB of bytes.
 */
export const MAX_PART_CHARS = 256 * 1024;

/** An item's share of a JSON array: its text and the comma after it. */
export const jsonChars = (item: unknown): number => JSON.stringify(item).length + 1;

/**
 * How many items from the start of `items` fit one part of at most `maxChars` (the array's own
 * brackets counted). At least one when `items` is not empty: an item too large for any part goes
 * alone (the bus will refuse it; nothing smaller can be made of it here).
 */
export function fitsInPart<T>(items: readonly T[], maxChars: number, from = 0, size: (item: T) => number = jsonChars): number {
  let chars = 2;
  let n = 0;
  for (let i = from; i < items.length; i++) {
    const c = size(items[i]!);
    if (n > 0 && chars + c > maxChars) break;
    chars += c;
    n++;
  }
  return n;
}

/** Splits `items` into consecutive parts of at most `maxChars` each (in order; one empty part for an empty list). */
export function splitByChars<T>(items: readonly T[], maxChars: number, size: (item: T) => number = jsonChars): T[][] {
  if (items.length === 0) return [[]];
  const parts: T[][] = [];
  for (let from = 0; from < items.length;) {
    const n = fitsInPart(items, maxChars, from, size);
    parts.push(items.slice(from, from + n));
    from += n;
  }
  return parts;
}

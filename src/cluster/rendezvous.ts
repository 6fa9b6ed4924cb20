// Which live node owns a key: rendezvous (highest-random-weight) hashing, Thaler & Ravishankar 1998.
// Every node scores (member, key) pairs with the same hash and picks the highest, so nodes that see
// the same member set agree with no coordination, and a membership change moves only the keys that
// must move: a departed node's keys spread over the rest, a new node takes only the keys it now wins.
// Pure: no clock, no I/O. The member hashes are computed once per membership change (`ownerRing`).

/** FNV-1a over UTF-16 code units, 32 bits: cheap for the short ids and keys sluice hashes. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finaliser: spreads every input bit over the output, so near keys score apart. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export interface OwnerRing {
  /** Member ids, sorted (ties between equal scores go to the smaller id). */
  readonly members: readonly string[];
  /** One seed per member, from its id. */
  readonly seeds: readonly number[];
}

export function ownerRing(members: Iterable<string>): OwnerRing {
  const sorted = [...new Set(members)].sort();
  return { members: sorted, seeds: sorted.map((m) => fnv1a(m)) };
}

/** Hash of a key, computed once per request and scored against every member. */
export const keyHash = (key: string): number => fmix32(fnv1a(key));

/** The score of a member for a key: the member with the highest score owns the key. */
export function score(seed: number, hashOfKey: number): number {
  // Two rounds: one mix of (seed xor key) correlates members whose seeds differ in few bits.
  return fmix32(fmix32(seed ^ hashOfKey) + seed);
}

/** The owner of `key` among the ring's members; undefined when there is none. */
export function ownerOf(ring: OwnerRing, key: string): string | undefined {
  const h = keyHash(key);
  let best = -1;
  let owner: string | undefined;
  for (let i = 0; i < ring.members.length; i++) {
    const s = score(ring.seeds[i]!, h);
    if (s > best) { best = s; owner = ring.members[i]; } // strict: the first (smallest id) wins a tie
  }
  return owner;
}

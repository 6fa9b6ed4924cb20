// Which keys are hot here: a key seen `threshold` times, each sighting within `windowMs` of the one
// before, is hot (and stays hot while it keeps coming). Fleet scope
// forwards only hot keys (docs/batching.md, Fleet scope): a key seen once pays no bus hop, and a key
// that keeps coming is the one worth one call per cluster. Bounded: past `capacity` keys the least
// recently seen is forgotten (Map order is insertion order; a touch re-inserts). Pure: takes `now`.

export interface HotKeysOptions {
  /** Sightings within the window that make a key hot. */
  threshold: number;
  windowMs: number;
  capacity: number;
}

interface Seen { count: number; lastAt: number }

export class HotKeys {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly o: HotKeysOptions) {}

  /** Records one sighting of `key` at `now`; true when the key is hot (this sighting included). */
  touch(key: string, now: number): boolean {
    const s = this.seen.get(key);
    const next: Seen = !s || now - s.lastAt > this.o.windowMs ? { count: 1, lastAt: now } : { count: Math.min(s.count + 1, this.o.threshold), lastAt: now };
    if (s) this.seen.delete(key);
    this.seen.set(key, next);
    if (this.seen.size > this.o.capacity) this.seen.delete(this.seen.keys().next().value!);
    return next.count >= this.o.threshold;
  }

  get size(): number { return this.seen.size; }
}

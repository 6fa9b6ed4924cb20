// Time is injected: actors and the bus hold a Clock; pure modules take `now` as an argument.
// The shape is what xstate's `createActor({ clock })` accepts, plus `now()`.

export type TimerId = unknown;

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Timers must never keep a draining process alive; servers and sockets do that.
    t.unref?.();
    return t;
  },
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

interface PendingTimer { at: number; seq: number; fn: ((...args: unknown[]) => void) | undefined; clock: VirtualClock }

const before = (a: PendingTimer, b: PendingTimer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/**
 * A clock that moves only when told. Timers due at the same instant fire in the order they were set,
 * and a timer set by a firing timer for "now" fires in the same advance: what a simulator needs to
 * run many nodes deterministically in one process. Timers sit in a binary heap (a 50-node simulation
 * keeps thousands); a timer's id is its heap entry, so clearing one only drops its function, and the
 * entry is discarded lazily when it reaches the top (no lookup table on the hot path).
 */
export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private live = 0;
  private readonly heap: PendingTimer[] = [];

  constructor(startAt = 0) { this.time = startAt; }

  now(): number { return this.time; }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId {
    const t: PendingTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, clock: this };
    this.live++;
    this.push(t);
    return t;
  }

  clearTimeout(id: TimerId): void {
    const t = id as PendingTimer | undefined;
    // Only this clock's own live timers count; an id that fired, was cleared or is foreign is a no-op.
    if (typeof t !== 'object' || t === null || t.clock !== this || t.fn === undefined) return;
    t.fn = undefined;
    this.live--;
  }

  /** When the earliest live timer falls due; undefined when none is set. */
  nextAt(): number | undefined { return this.peek()?.at; }

  /** Number of timers not yet fired. */
  get pending(): number { return this.live; }

  /** When the earliest live timer is due, or undefined when none is set: lets a driver skip idle time. */
  get nextDueAt(): number | undefined { return this.peek()?.at; }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void { this.advanceTo(this.time + ms); }

  advanceTo(at: number): void {
    for (;;) {
      const next = this.peek();
      if (!next || next.at > at) break;
      this.pop();
      const fn = next.fn!;
      next.fn = undefined;
      this.live--;
      this.time = Math.max(this.time, next.at);
      fn();
    }
    this.time = Math.max(this.time, at);
  }

  /** Fires timers until none is left or `maxMs` of virtual time has passed; returns the time advanced. */
  runAll(maxMs = 60_000): number {
    const start = this.time;
    for (;;) {
      const next = this.peek();
      if (!next || next.at > start + maxMs) break;
      this.advanceTo(next.at);
    }
    return this.time - start;
  }

  /** The earliest live timer, discarding cleared ones on the way. */
  private peek(): PendingTimer | undefined {
    while (this.heap.length > 0 && this.heap[0]!.fn === undefined) this.pop();
    return this.heap[0];
  }

  // Sift with a hole instead of swaps: one write per level.
  private push(t: PendingTimer): void {
    const h = this.heap;
    let i = h.length;
    h.push(t);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (!before(t, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = t;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[m]!, last)) break;
      h[i] = h[m]!;
      i = m;
    }
    h[i] = last;
  }
}

/**
 * Runs `fn` at the end of the current event-loop turn, after the I/O already waiting has been read
 * (the registry closes join cohorts and takes timer flushes there). Injected like the clock, so
 * tests on a virtual clock decide when a turn ends.
 */
export type Scheduler = (fn: () => void) => void;

export const realScheduler: Scheduler = (fn) => { setImmediate(fn); };

/** A scheduler whose turns end when a test says so: `runTurn()` runs what was queued, in order. */
export class ManualScheduler {
  private queue: Array<() => void> = [];
  readonly schedule: Scheduler = (fn) => { this.queue.push(fn); };
  get pending(): number { return this.queue.length; }
  runTurn(): void {
    const q = this.queue;
    this.queue = [];
    for (const fn of q) fn();
  }
}

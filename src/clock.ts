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

interface PendingTimer { id: number; at: number; seq: number; fn: (...args: unknown[]) => void }

/**
 * A clock that moves only when told. Timers due at the same instant fire in the order they were set,
 * and a timer set by a firing timer for "now" fires in the same advance: what a simulator needs to
 * run many nodes deterministically in one process.
 */
export class VirtualClock implements Clock {
  private time: number;
  private nextId = 1;
  private seq = 0;
  private readonly timers = new Map<number, PendingTimer>();

  constructor(startAt = 0) { this.time = startAt; }

  now(): number { return this.time; }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), seq: this.seq++, fn });
    return id;
  }

  clearTimeout(id: TimerId): void { this.timers.delete(id as number); }

  /** Number of timers not yet fired. */
  get pending(): number { return this.timers.size; }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void { this.advanceTo(this.time + ms); }

  advanceTo(at: number): void {
    for (;;) {
      const next = this.earliestDueBy(at);
      if (!next) break;
      this.timers.delete(next.id);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = Math.max(this.time, at);
  }

  /** Fires timers until none is left or `maxMs` of virtual time has passed; returns the time advanced. */
  runAll(maxMs = 60_000): number {
    const start = this.time;
    while (this.timers.size > 0) {
      const next = this.earliestDueBy(start + maxMs);
      if (!next) break;
      this.advanceTo(next.at);
    }
    return this.time - start;
  }

  private earliestDueBy(at: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers.values()) {
      if (t.at > at) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

// Fixed windows that every node agrees on without talking: window id = floor(epoch ms / windowMs).
// Nothing resets on a local timer; a window's counters are simply dropped once it is too old to
// matter (seed 004 zeroed its CRDT on a local timer, so nodes disagreed about what was spent).
import { type NodeId } from '../crdt/node-id.ts';
import * as pn from '../crdt/pn-counter.ts';
import { isPlainObject } from '../crdt/wire.ts';

export const windowIdAt = (now: number, windowMs: number): number => Math.floor(now / windowMs);
export const windowStartAt = (windowId: number, windowMs: number): number => windowId * windowMs;
/** Epoch ms when the window ends, which is when the next one starts. */
export const windowEndAt = (windowId: number, windowMs: number): number => (windowId + 1) * windowMs;

/**
 * Windows kept besides the current one. The previous window takes late gossip and late reconciles
 * (a reply that finishes after the window rolled over); the next one takes spend from a peer whose
 * clock runs slightly ahead. Anything further is dropped, which also bounds what a peer can make us hold.
 */
export const RETAINED_PAST_WINDOWS = 1;
export const RETAINED_FUTURE_WINDOWS = 1;

export function isRetained(windowId: number, now: number, windowMs: number): boolean {
  const current = windowIdAt(now, windowMs);
  return windowId >= current - RETAINED_PAST_WINDOWS && windowId <= current + RETAINED_FUTURE_WINDOWS;
}

/** Wire form of windowed counters: `{ "<window id>": { "<key>": EncodedPNCounter } }`. JSON-safe. */
export type EncodedWindows = { [windowId: string]: { [key: string]: pn.EncodedPNCounter } };

export interface WindowMergeReport {
  /** Key counters merged. */
  counters: number;
  /** Parts that could not be read (a bad window id, a window that is not an object, a bad counter); each skipped. */
  malformed: number;
  /** Windows skipped because they are too old or too far ahead of `now`. */
  outOfRange: number;
}

type Windows = Map<number, Map<string, pn.PNCounter>>;

/**
 * One PN counter per (window, key), plus the delta of this node's own changes since the last
 * `takeDelta`. Counts are in the limit's units; keys are whatever the caller limits by.
 */
export class WindowedCounters {
  private readonly state: Windows = new Map();
  private delta: Windows = new Map();

  constructor(readonly self: NodeId, readonly windowMs: number) {}

  /** The merged cluster total for `key` in the window, as far as this node knows. */
  value(windowId: number, key: string): number {
    const c = this.state.get(windowId)?.get(key);
    return c ? pn.value(c) : 0;
  }

  /** What `node` alone has counted (net of its refunds) for `key` in the window. */
  valueAt(windowId: number, key: string, node: NodeId): number {
    const c = this.state.get(windowId)?.get(key);
    return c ? pn.valueAt(c, node) : 0;
  }

  /** Counts `by` units for this node. */
  add(windowId: number, key: string, by: number): void {
    if (by !== 0) this.apply(windowId, key, (c) => pn.increment(c, this.self, by));
  }

  /** Takes back `by` units for this node (a refund). */
  subtract(windowId: number, key: string, by: number): void {
    if (by !== 0) this.apply(windowId, key, (c) => pn.decrement(c, this.self, by));
  }

  /** Drops every window that is no longer retained at `now`, with its pending delta. */
  prune(now: number): void {
    for (const windows of [this.state, this.delta]) {
      for (const id of windows.keys()) if (!isRetained(id, now, this.windowMs)) windows.delete(id);
    }
  }

  /** This node's changes since the last call (Akka's `delta` then `resetDelta`), retained windows only. */
  takeDelta(now: number): EncodedWindows {
    this.prune(now);
    const out = encodeWindows(this.delta);
    this.delta = new Map();
    return out;
  }

  /** Every retained window in full, for anti-entropy: it heals any delta lost on the way. */
  fullState(now: number): EncodedWindows {
    this.prune(now);
    return encodeWindows(this.state);
  }

  /**
   * Merges a peer's delta or full state. Unreadable parts are skipped and counted, never thrown:
   * the rest of the message is still good.
   */
  mergeEncoded(wire: unknown, now: number): WindowMergeReport {
    const report: WindowMergeReport = { counters: 0, malformed: 0, outOfRange: 0 };
    if (!isPlainObject(wire)) {
      report.malformed++;
      return report;
    }
    for (const [idText, keys] of Object.entries(wire)) {
      const windowId = parseWindowId(idText);
      if (windowId === undefined || !isPlainObject(keys)) {
        report.malformed++;
        continue;
      }
      if (!isRetained(windowId, now, this.windowMs)) {
        report.outOfRange++;
        continue;
      }
      for (const [key, encoded] of Object.entries(keys)) {
        const remote = pn.decode(encoded);
        if (!remote) {
          report.malformed++;
          continue;
        }
        const window = this.windowFor(this.state, windowId);
        window.set(key, pn.merge(window.get(key) ?? pn.zero, remote));
        report.counters++;
      }
    }
    return report;
  }

  /** Window ids held, oldest first (for tests and metrics). */
  windowIds(): number[] {
    return [...this.state.keys()].sort((x, y) => x - y);
  }

  private apply(windowId: number, key: string, op: (c: pn.PNCounter) => { next: pn.PNCounter; delta: pn.PNCounter }): void {
    const window = this.windowFor(this.state, windowId);
    const { next, delta } = op(window.get(key) ?? pn.zero);
    window.set(key, next);
    const pending = this.windowFor(this.delta, windowId);
    const prev = pending.get(key);
    // The first change since the last sync is the delta itself (merge with zero would only copy it).
    pending.set(key, prev ? pn.merge(prev, delta) : delta);
  }

  private windowFor(windows: Windows, windowId: number): Map<string, pn.PNCounter> {
    let w = windows.get(windowId);
    if (!w) windows.set(windowId, (w = new Map()));
    return w;
  }
}

function encodeWindows(windows: Windows): EncodedWindows {
  // fromEntries defines own properties, so a client key named "__proto__" stays an ordinary key.
  return Object.fromEntries(
    [...windows].map(([id, keys]) => [String(id), Object.fromEntries([...keys].map(([k, c]) => [k, pn.encode(c)]))]),
  );
}

function parseWindowId(text: string): number | undefined {
  if (!/^-?(0|[1-9][0-9]*)$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

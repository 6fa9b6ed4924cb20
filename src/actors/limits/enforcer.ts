// One configured limit on one node, whatever its mode. The approximate enforcer decides from gossiped
// CRDT totals; the strict one from leases prefetched from the cluster singleton. TargetLimits composes
// a target's enforcers, builds each one's key and cost, and turns refusals into 429 or a queue.
import type { LimitConfig } from '../../config/schema.ts';
import type { Decision } from '../../limit/decision.ts';

export interface LimitEnforcer {
  readonly config: LimitConfig;
  /**
   * Decides for `key` and, when allowed, reserves `cost` units in the current window. Approximate
   * answers at once; strict answers at once from its local lease, and awaits the singleton only when
   * the lease is empty (never admitting on credit).
   */
  admit(key: string, cost: number, now: number, signal?: AbortSignal): Decision | Promise<Decision>;
  /**
   * After the call: `actual` units were really spent where `estimated` were reserved in `windowId`
   * (tokens from the reply's usage; actual 0 gives the whole reservation back, e.g. the call was not made).
   */
  reconcile(key: string, windowId: number, estimated: number, actual: number, now: number): void;
  describe(): unknown;
  close(): Promise<void>;
}

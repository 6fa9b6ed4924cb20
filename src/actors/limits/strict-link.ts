// One node's request/reply channel to the strict singleton holder. Core NATS is at-most-once, so a
// sync is retried; every try waits a few smoothed round trips (as TCP's retransmission timeout), so a
// lost message costs little once round trips have been seen. Retrying is safe: sync messages carry
// running totals (./strict-protocol.ts), so a repeated one counts nothing twice.
import type { Bus } from '../../bus/bus.ts';
import type { Clock } from '../../clock.ts';
import type { SingletonView } from '../singleton-view.ts';
import { encodeSync, MAX_SYNC_ITEMS, parseSyncReply, syncSubject, type SyncItem, type SyncReply } from './strict-protocol.ts';

/** Longest wait for one try of a sync request, ms. */
export const DEFAULT_ASK_TIMEOUT_MS = 250;
const MIN_ASK_TIMEOUT_MS = 20;
/** Tries per sync (an ask, a report or a return) before it counts as failed. */
export const DEFAULT_ASK_ATTEMPTS = 4;

export type SyncAnswer = Extract<SyncReply, { ok: true }>;

export interface HolderLinkDeps {
  nodeId: string;
  clusterName: string;
  clock: Clock;
  bus: Bus;
  singleton: SingletonView;
  askTimeoutMs?: number | undefined;
  askAttempts?: number | undefined;
}

/** No holder is known, or the one asked no longer holds: retrying it is pointless until that changes. */
export class NoHolderKnown extends Error {
  constructor() { super('no strict singleton holder reachable'); }
}

/** `<holder>#<term>`, or '' while none is known: a new holding is a new tag. */
export const holderTag = (s: SingletonView): string => {
  const h = s.holder();
  return h ? `${h.id}#${h.term}` : '';
};

export class HolderLink {
  readonly attempts: number;
  private readonly timeoutMs: number;
  /** Smoothed round trip of sync requests, ms (undefined until one is seen). */
  private srttMs: number | undefined;
  /** Bounds on the holder's clock minus ours from the last answer (NTP's reasoning), ms. */
  offset: { lowMs: number; highMs: number } | undefined;

  constructor(private readonly deps: HolderLinkDeps) {
    this.timeoutMs = deps.askTimeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
    this.attempts = deps.askAttempts ?? DEFAULT_ASK_ATTEMPTS;
  }

  /**
   * Sends items to the holder this node knows (in chunks the protocol accepts), retrying on timeout;
   * `onAnswer` gets each chunk's answer as it comes. Rejects when no holder is known, it answers that
   * it no longer holds, or every try of a chunk failed.
   */
  async sync(items: SyncItem[], onAnswer: (a: SyncAnswer) => void, attempts = this.attempts): Promise<void> {
    for (let i = 0; i < items.length; i += MAX_SYNC_ITEMS) {
      const chunk = items.slice(i, i + MAX_SYNC_ITEMS);
      let answer: SyncAnswer | undefined;
      let lastError: unknown;
      for (let attempt = 0; attempt < attempts && !answer; attempt++) {
        const holder = this.deps.singleton.holder();
        if (!holder) throw new NoHolderKnown();
        try {
          const sentAt = this.deps.clock.now();
          const raw = await this.deps.bus.request(syncSubject(this.deps.clusterName, holder.id), encodeSync({ node: this.deps.nodeId, items: chunk }), this.tryTimeoutMs());
          const rtt = this.deps.clock.now() - sentAt;
          this.srttMs = this.srttMs === undefined ? rtt : this.srttMs + (rtt - this.srttMs) / 8;
          const reply = parseSyncReply(raw);
          if (!reply?.ok) throw new NoHolderKnown();
          if (reply.at !== undefined) this.offset = { lowMs: reply.at - this.deps.clock.now(), highMs: reply.at - sentAt };
          answer = reply;
        } catch (err) {
          lastError = err;
          if (err instanceof NoHolderKnown) break;
        }
      }
      if (!answer) throw lastError ?? new NoHolderKnown();
      onAnswer(answer);
    }
  }

  /** Whether our clock is surely further than `skewMs` from the holder's (the last answer says so). */
  clockOff(skewMs: number): boolean {
    return this.offset !== undefined && (this.offset.lowMs > skewMs || this.offset.highMs < -skewMs);
  }

  /** How long one try waits: a few smoothed round trips, within [20 ms, askTimeoutMs]. */
  tryTimeoutMs(): number {
    if (this.srttMs === undefined) return this.timeoutMs;
    return Math.min(this.timeoutMs, Math.max(MIN_ASK_TIMEOUT_MS, Math.ceil(3 * this.srttMs + 10)));
  }
}

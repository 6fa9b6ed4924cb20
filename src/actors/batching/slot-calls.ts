// A flushed slot's one upstream call and its answers: the effects the slot machine's actions (and
// a lone flight's steps) stand for — start the call with the batch frozen at flush, fan its reply
// or failure out to the waiters still present, serve clients joining while the body streams, and
// tell the slot when joins must stop. The registry (batch-registry.ts) owns the slots and routes
// the events these produce back to the slot's actor or lone flight.
import { LightAbortController } from '../../abort.ts';
import type { BatchKey } from '../../batch/index.ts';
import type { Clock } from '../../clock.ts';
import type { BatchSlotEvent, FlushReason, Waiter } from '../../machines/batch-slot.ts';
import type { BatchExecutor, BatchRegistryHooks, FanOutResult, RegistryEvent, ReplyFlight, SlotInfo } from './registry-types.ts';
import type { SlotEntry } from './slot-entry.ts';
import type { SlotPolicyDriver } from './slot-policy.ts';

/** What the calls need from the registry that owns the slots. */
export interface SlotCallsHost<P, R> {
  readonly clock: Clock;
  readonly executor: BatchExecutor<P, R>;
  readonly hooks: BatchRegistryHooks | undefined;
  readonly joinInFlight: boolean;
  readonly policy: SlotPolicyDriver<SlotEntry<P>>;
  /** Routes an event to the slot's actor or lone flight. */
  send(entry: SlotEntry<P>, event: BatchSlotEvent): void;
  emit(e: RegistryEvent): void;
  /** The key takes a new slot from now on (no joins in flight: merge). */
  freeKey(entry: SlotEntry<P>): void;
  clearTimers(entry: SlotEntry<P>): void;
  /** A private reply: the key passes through uncoalesced for a while. */
  uncoalesce(key: BatchKey): void;
  isActive(entry: SlotEntry<P>): boolean;
}

export class SlotCalls<P, R> {
  constructor(private readonly h: SlotCallsHost<P, R>) {}

  /** Entering `serving`: freeze the batch, free the key for the next slot, start the one call. */
  start(entry: SlotEntry<P>, frozen: readonly Waiter[], reason: FlushReason): void {
    const now = this.h.clock.now();
    this.h.clearTimers(entry);
    // Without joins in flight the key is free for the next slot now; with them, once joins end.
    if (!this.h.joinInFlight) this.h.freeKey(entry);
    entry.waiters.closeCohort();
    const batch = entry.waiters.expand(frozen.map((w) => w.waiterId), true);
    entry.size = batch.length;
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    this.h.hooks?.onFlush?.(reason, entry.size);
    this.h.emit({ type: 'slot.flushed', slotId: entry.slotId, key: entry.key, reason, size: entry.size });
    const ended = this.h.policy.callStarted({ key: entry.key, size: entry.size, createdAt: entry.createdAt, reason, joinedAt: frozen.map((w) => w.joinedAt) }, now);
    const abort = new LightAbortController(); // Node's AbortController costs ~15 µs a call on this path (src/abort.ts)
    entry.abort = abort;
    // A microtask later, so the call never runs inside the machine's transition and a throw is a rejection.
    Promise.resolve()
      .then(() => this.h.executor.call(batch, abort.signal, info))
      .then(
        (reply) => {
          ended(false);
          let joinable = false;
          if (this.h.joinInFlight && this.h.executor.joinable) {
            try { joinable = this.h.executor.joinable(reply); } catch (err) { this.h.hooks?.onFault?.('joinable', err); }
          }
          this.h.send(entry, { type: 'upstream.replied', reply, joinable });
        },
        (error: unknown) => {
          ended(true);
          this.h.send(entry, { type: 'upstream.failed', error });
        },
      );
  }

  fanOutReply(entry: SlotEntry<P>, waiters: readonly Waiter[], reply: R): void {
    const present = this.presentOf(entry, waiters);
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    const flight: ReplyFlight = {
      ended: () => this.endJoins(entry, 'body.ended'),
      overflowed: () => this.endJoins(entry, 'body.overflowed'),
    };
    let result: FanOutResult<P> | void = undefined;
    try {
      result = this.h.executor.fanOut(reply, present, info, flight);
    } catch (err) {
      // Answers are idempotent per waiter: those the fan-out reached keep theirs, the rest get the failure.
      this.h.hooks?.onFault?.('fanOut', err);
      this.contained('fail', () => this.h.executor.fail(err, present, info));
      this.endJoins(entry, 'body.ended');
    }
    if (result?.uncoalesce) this.h.uncoalesce(entry.key);
    entry.size -= result?.alone ?? 0; // those calls were not saved
    entry.lateJoin = result?.join;
    this.h.emit({ type: 'slot.replied', slotId: entry.slotId, key: entry.key, size: entry.size, joinable: entry.lateJoin !== undefined });
  }

  /** A waiter joined while the body streams: the executor answers it with the head and the whole body. */
  serveJoiner(entry: SlotEntry<P>, cohortId: string): void {
    const payload = entry.waiters.expand([cohortId])[0];
    if (payload === undefined) return;
    entry.size += 1;
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    let served = false;
    try {
      served = entry.lateJoin?.(payload, info) ?? false;
    } catch (err) {
      this.h.hooks?.onFault?.('lateJoin', err);
    }
    if (served) return;
    // Too late after all (the body just ended or outgrew the bound): this one makes its own call.
    entry.size -= 1;
    this.contained('alone', () => this.h.executor.alone?.(payload, info));
  }

  /** The reply's body ended or outgrew the join bound: no more joins; the slot is done. */
  private endJoins(entry: SlotEntry<P>, type: 'body.ended' | 'body.overflowed'): void {
    if (this.h.isActive(entry)) this.h.send(entry, { type });
  }

  fanOutFailure(entry: SlotEntry<P>, waiters: readonly Waiter[], error: unknown): void {
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    this.contained('fail', () => this.h.executor.fail(error, this.presentOf(entry, waiters), info));
  }

  private presentOf(entry: SlotEntry<P>, waiters: readonly Waiter[]): P[] {
    return entry.waiters.expand(waiters.map((w) => w.waiterId));
  }

  private contained(what: string, fn: () => void): void {
    try { fn(); } catch (err) { this.h.hooks?.onFault?.(what, err); }
  }
}

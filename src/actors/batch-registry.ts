// The registry of one target's batch slots: batch key → the live slot still taking joins. A join
// either lands in that slot or opens a new one (a slot machine actor plus, when `maxWaitMs` > 0, its
// timer); the flush policy is asked on every join and on a short tick. With joins in flight
// (coalesce) a slot keeps its key through its call and while its reply's body streams, so identical
// requests share the call in the air (singleflight); without (merge) a flushed slot leaves the key
// free for the next slot at once. What a batch *is* (one shared GET, or bodies merged into one call)
// is the executor's business: the registry only sees payloads.
//
// With `maxWaitMs: 0` the first request's call starts inside its `join`, on the same tick: no timer,
// no turn waited. Nothing here outlives its answer: a slot lives from its first join to its last
// answer (or the end of joins), a waiter from its join to its answer or leave, and timers exist only
// while a slot is waiting.
import { createActor, type Actor } from 'xstate';
import type { TimerId } from '../clock.ts';
import type { BatchKey } from '../batch/index.ts';
import { newId } from '../ids.ts';
import { acceptsJoins, batchSlot, FlushReason } from '../machines/batch-slot.ts';
import type { BatchSlotContext, BatchSlotMachine, BatchSlotOutput, SlotOutcome } from '../machines/batch-slot.ts';
import { JoinPhase } from './batching/registry-types.ts';
import type { BatchRegistryOptions, FanOutResult, ReplyFlight, RegistryEvent, SlotInfo, WaiterTicket } from './batching/registry-types.ts';
import { SlotPolicyDriver } from './batching/slot-policy.ts';
import { SlotWaiters } from './batching/slot-waiters.ts';
import { UncoalescedKeys } from './batching/uncoalesced-keys.ts';

export { batchHeaderValue, JoinPhase } from './batching/registry-types.ts';
export type {
  BatchExecutor, BatchRegistryHooks, BatchRegistryOptions, FanOutResult, RegistryEvent, ReplyFlight, SlotInfo, SlotPolicy, WaiterTicket,
} from './batching/registry-types.ts';

export const DEFAULT_UNCOALESCED_TTL_MS = 10_000;
export const DEFAULT_RATE_HALF_LIFE_MS = 250;

interface SlotEntry<P> {
  readonly slotId: string;
  readonly key: BatchKey;
  readonly createdAt: number;
  readonly actor: Actor<BatchSlotMachine>;
  readonly waiters: SlotWaiters<P>;
  timer: TimerId | undefined;
  /** The policy's hold timer (policies with `holdMs`). */
  holdTimer: TimerId | undefined;
  abort: AbortController | undefined;
  asking: boolean;
  /**
   * Clients the call answers: those in it at flush, joiners in flight, less those sent upstream on
   * their own. Grows as late joiners are served.
   */
  size: number;
  /** Serves a waiter joining while the reply's body streams (from the executor's fan-out). */
  lateJoin: ((waiter: P, slot: SlotInfo) => boolean) | undefined;
}

class Ticket<P> implements WaiterTicket {
  private left = false;
  constructor(readonly waiterId: string, private readonly slot: SlotEntry<P>, private readonly registry: BatchRegistry<P, unknown>) {}
  get slotId(): string { return this.slot.slotId; }
  get inCall(): boolean { return this.slot.waiters.inCall(this.waiterId); }
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.registry.leaveSlot(this.slot, this.waiterId);
  }
}

export class BatchRegistry<P, R> {
  private readonly open = new Map<BatchKey, SlotEntry<P>>();
  private readonly live = new Map<string, SlotEntry<P>>();
  private readonly uncoalesced: UncoalescedKeys;
  /** Slots whose cohort is open this event-loop turn; closed together at the end of the turn. */
  private readonly openCohorts = new Set<SlotEntry<P>>();
  private cohortCloserDue = false;
  private readonly machine: BatchSlotMachine;
  private readonly listeners = new Set<(e: RegistryEvent) => void>();
  /** The flush policy's view of the slots: features, ticks, holds (slot-policy.ts). */
  private readonly policy: SlotPolicyDriver<SlotEntry<P>>;
  private closing = false;
  private idle: (() => void) | undefined;
  /** Since start, for the admin view: calls made, joins in flight by phase, calls saved. */
  private readonly totals = { calls: 0, joinedBeforeHead: 0, joinedDuringBody: 0, callsSaved: 0 };

  constructor(private readonly o: BatchRegistryOptions<P, R>) {
    this.policy = new SlotPolicyDriver<SlotEntry<P>>({
      clock: o.clock, policy: o.policy, maxWaitMs: o.maxWaitMs, maxBatchSize: o.maxBatchSize, tickMs: o.tickMs,
      rateHalfLifeMs: o.rateHalfLifeMs ?? DEFAULT_RATE_HALF_LIFE_MS,
      flush: (slot, reason) => this.flush(slot, reason),
      isOpen: (slot) => this.open.get(slot.key) === slot,
      openSlots: () => this.open.values(),
      hasOpenSlots: () => this.open.size > 0,
      closing: () => this.closing,
      onFault: (what, error) => this.o.hooks?.onFault?.(what, error),
    });
    this.uncoalesced = new UncoalescedKeys(o.uncoalescedTtlMs ?? DEFAULT_UNCOALESCED_TTL_MS);
    // One provided machine per registry (provide() rebuilds the state tree); actions find their slot by id.
    this.machine = batchSlot.provide({
      actions: {
        callUpstream: ({ context }) => this.contained('callUpstream', () => this.startCall(context)),
        abortUpstream: ({ context }) => this.live.get(context.slotId)?.abort?.abort(),
        fanOutReply: ({ context, event }) => {
          if (event.type === 'upstream.replied') this.fanOutReply(context, event.reply as R);
        },
        fanOutFailure: ({ context, event }) => {
          if (event.type === 'upstream.failed') this.fanOutFailure(context, event.error);
        },
        serveJoiner: ({ context, event }) => {
          if (event.type === 'waiter.joined') this.contained('serveJoiner', () => this.serveJoiner(context, event.waiterId));
        },
        // Joins are only sent to slots that take them (acceptsJoins is checked first), so nothing is refused.
        refuseJoin: () => {},
      },
    });
  }

  /** Slots not yet done, waiting or serving. */
  get liveSlots(): number { return this.live.size; }
  /** Slots still taking joins. */
  get openSlots(): number { return this.open.size; }

  /** Calls `listener` with every registry event; returns the unsubscribe. */
  subscribe(listener: (e: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** True while `key` passes through uncoalesced (its last reply was private). */
  isUncoalesced(key: BatchKey): boolean {
    return this.uncoalesced.has(key, this.o.clock.now());
  }

  /**
   * Adds a waiter to the live slot for `key`, opening one when there is none taking joins. With
   * joins in flight the waiter may join a call already made; while its reply's body streams it is
   * answered inside this call.
   */
  join(key: BatchKey, payload: P, waiterId: string = newId()): WaiterTicket {
    const now = this.o.clock.now();
    this.policy.arrived(key, now);
    let entry = this.open.get(key);
    let snapshot = entry?.actor.getSnapshot();
    if (!entry || !snapshot || !acceptsJoins(snapshot)) {
      entry = this.openSlot(key, now);
      snapshot = entry.actor.getSnapshot();
    }
    const slot = entry;
    const phase = snapshot.value === 'waiting' ? 'waiting' : snapshot.value === 'serving' ? JoinPhase.BeforeHead : JoinPhase.DuringBody;
    const ticket = new Ticket(waiterId, slot, this);
    if (phase === JoinPhase.DuringBody) {
      // Answered at once, each on its own (a cohort would hide all but its first client from the machine).
      const own = slot.waiters.addAlone(waiterId, payload);
      this.totals.joinedDuringBody++;
      this.emit({ type: 'waiter.joined', slotId: slot.slotId, waiterId, key, phase });
      this.o.hooks?.onJoinInFlight?.(phase);
      slot.actor.send({ type: 'waiter.joined', waiterId: own.id, at: now });
      return ticket;
    }
    const cohort = slot.waiters.add(waiterId, payload);
    this.emit({ type: 'waiter.joined', slotId: slot.slotId, waiterId, key, phase });
    if (phase === JoinPhase.BeforeHead) {
      slot.size += 1; // answered by a call it did not make; uncounted again if it leaves first
      this.totals.joinedBeforeHead++;
      this.o.hooks?.onJoinInFlight?.(phase);
    }
    if (cohort) {
      slot.actor.send({ type: 'waiter.joined', waiterId: cohort.id, at: now });
      // A join that flushed its slot closed the cohort already: nothing to end at the turn's end.
      if (slot.waiters.cohortOpen) this.closeCohortAfterTurn(slot);
    }
    if (phase === 'waiting' && slot.actor.getSnapshot().value === 'waiting') {
      // The size guard counts clients; the machine only sees cohorts (see slot-waiters.ts).
      if (slot.waiters.size >= this.o.maxBatchSize) this.flush(slot, FlushReason.Size);
      else if (this.closing) this.flush(slot, FlushReason.Shutdown);
      else this.policy.consult(slot, now);
    }
    return ticket;
  }

  /** @internal A waiter answered elsewhere leaves its slot (through its ticket). */
  leaveSlot(slot: SlotEntry<P>, waiterId: string): void {
    if (!slot.waiters.has(waiterId)) return;
    if (slot.actor.getSnapshot().value === 'serving' && !slot.waiters.inCall(waiterId)) slot.size -= 1;
    const emptied = slot.waiters.remove(waiterId);
    this.emit({ type: 'waiter.left', slotId: slot.slotId, waiterId });
    if (emptied !== undefined && slot.actor.getSnapshot().status === 'active') {
      slot.actor.send({ type: 'waiter.left', waiterId: emptied });
    }
  }

  describe(): Record<string, unknown> {
    const now = this.o.clock.now();
    this.uncoalesced.sweep(now);
    const p99 = this.policy.p99();
    return {
      policy: this.o.policy.name, openSlots: this.open.size, liveSlots: this.live.size,
      // Clients still waiting for a head: a streaming slot's clients have theirs.
      waiting: [...this.open.values()].reduce((n, e) => n + (e.actor.getSnapshot().value === 'streaming' ? 0 : e.waiters.size), 0),
      uncoalescedKeys: this.uncoalesced.size, arrivalRatePerMs: this.policy.ratePerMs(now),
      upstreamP99Ms: Number.isNaN(p99) ? null : p99,
      // Since the target was built: slots that ended with a call, clients that joined one in flight
      // (before its head, during its body), and calls saved (clients answered by a call they did not make).
      upstreamCalls: this.totals.calls, joinsBeforeHead: this.totals.joinedBeforeHead,
      joinsDuringBody: this.totals.joinedDuringBody, callsSaved: this.totals.callsSaved,
    };
  }

  /** Flushes every waiting slot (reason `shutdown`) and resolves once every slot is done. */
  close(): Promise<void> {
    this.closing = true;
    this.policy.stop();
    for (const entry of [...this.open.values()]) this.flush(entry, FlushReason.Shutdown);
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.idle = resolve; });
  }

  // ---- slots ----

  private openSlot(key: BatchKey, now: number): SlotEntry<P> {
    const slotId = newId();
    const actor = createActor(this.machine, {
      input: {
        slotId, maxBatchSize: this.o.maxBatchSize, createdAt: now, joinInFlight: this.o.joinInFlight ?? false,
        flushOnJoin: this.o.maxWaitMs === 0,
      },
    });
    const entry: SlotEntry<P> = {
      slotId, key, createdAt: now, actor, waiters: new SlotWaiters<P>(), timer: undefined, holdTimer: undefined, abort: undefined, asking: false, size: 0,
      lateJoin: undefined,
    };
    this.open.set(key, entry);
    this.live.set(slotId, entry);
    actor.subscribe({
      complete: () => this.onDone(entry, actor.getSnapshot().output),
      // Actions are contained, so this only guards against a fault in xstate itself.
      error: (err) => { this.o.hooks?.onFault?.('slot', err); this.onDone(entry, undefined); },
    });
    actor.start();
    if (this.o.maxWaitMs === 0) return entry; // no hold: its first join flushes it (flushOnJoin), on that request's own tick
    entry.timer = this.o.clock.setTimeout(() => {
      entry.timer = undefined;
      // Flush at the end of this event-loop turn, after the I/O already waiting has been read: a
      // request that reached its socket before the deadline joins this slot instead of being pushed
      // into a second call just because a burst kept the event loop busy when the timer came due.
      this.o.afterTurn(() => this.flush(entry, FlushReason.Timer));
    }, this.o.maxWaitMs);
    this.policy.slotOpened();
    return entry;
  }

  private flush(entry: SlotEntry<P>, reason: FlushReason): void {
    if (entry.actor.getSnapshot().status !== 'active') return;
    entry.actor.send({ type: 'flush', reason, at: this.o.clock.now() });
  }

  /** Entering `serving`: freeze the batch, free the key for the next slot, start the one call. */
  private startCall(context: BatchSlotContext): void {
    const entry = this.live.get(context.slotId);
    if (!entry) return;
    const now = this.o.clock.now();
    this.clearTimer(entry);
    // Without joins in flight the key is free for the next slot now; with them, once joins end.
    if (!this.o.joinInFlight && this.open.get(entry.key) === entry) this.open.delete(entry.key);
    entry.waiters.closeCohort();
    const batch = entry.waiters.expand(context.batch.map((w) => w.waiterId), true);
    entry.size = batch.length;
    const reason = context.flushReason ?? FlushReason.Size;
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    this.o.hooks?.onFlush?.(reason, entry.size);
    this.emit({ type: 'slot.flushed', slotId: entry.slotId, key: entry.key, reason, size: entry.size });
    const observation = {
      batchSize: entry.size, slotAgeMs: now - entry.createdAt, arrivalRatePerMs: this.policy.ratePerMs(now), key: entry.key, now,
    };
    this.contained('policy.observe', () => this.o.policy.observe?.(observation));
    const holdSum = context.batch.reduce((sum, w) => sum + (now - w.joinedAt), 0);
    const learns = this.o.policy.outcome !== undefined || this.o.hooks?.onOutcome !== undefined;
    const outcome = (failed: boolean): void => {
      const o = {
        ...observation, upstreamMs: this.o.clock.now() - now, meanHoldMs: context.batch.length ? holdSum / context.batch.length : 0, failed, reason,
      };
      this.contained('policy.outcome', () => this.o.policy.outcome?.(o));
      this.contained('onOutcome', () => this.o.hooks?.onOutcome?.(o));
    };
    const abort = new AbortController();
    entry.abort = abort;
    // A microtask later, so the call never runs inside the machine's transition and a throw is a rejection.
    Promise.resolve()
      .then(() => this.o.executor.call(batch, abort.signal, info))
      .then(
        (reply) => {
          this.policy.recordLatency(this.o.clock.now() - now);
          if (learns) outcome(false);
          let joinable = false;
          if (this.o.joinInFlight && this.o.executor.joinable) {
            try { joinable = this.o.executor.joinable(reply); } catch (err) { this.o.hooks?.onFault?.('joinable', err); }
          }
          entry.actor.send({ type: 'upstream.replied', reply, joinable });
        },
        (error: unknown) => {
          if (learns) outcome(true);
          entry.actor.send({ type: 'upstream.failed', error });
        },
      );
  }

  private fanOutReply(context: BatchSlotContext, reply: R): void {
    const entry = this.live.get(context.slotId);
    if (!entry) return;
    const present = this.presentOf(entry, context);
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    const flight: ReplyFlight = {
      ended: () => this.endJoins(entry, 'body.ended'),
      overflowed: () => this.endJoins(entry, 'body.overflowed'),
    };
    let result: FanOutResult<P> | void = undefined;
    try {
      result = this.o.executor.fanOut(reply, present, info, flight);
    } catch (err) {
      // Answers are idempotent per waiter: those the fan-out reached keep theirs, the rest get the failure.
      this.o.hooks?.onFault?.('fanOut', err);
      this.contained('fail', () => this.o.executor.fail(err, present, info));
      this.endJoins(entry, 'body.ended');
    }
    if (result?.uncoalesce) this.markUncoalesced(entry.key);
    entry.size -= result?.alone ?? 0; // those calls were not saved
    entry.lateJoin = result?.join;
    this.emit({ type: 'slot.replied', slotId: entry.slotId, key: entry.key, size: entry.size, joinable: entry.lateJoin !== undefined });
  }

  /** A waiter joined while the body streams: the executor answers it with the head and the whole body. */
  private serveJoiner(context: BatchSlotContext, cohortId: string): void {
    const entry = this.live.get(context.slotId);
    if (!entry) return;
    const payload = entry.waiters.expand([cohortId])[0];
    if (payload === undefined) return;
    entry.size += 1;
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    let served = false;
    try {
      served = entry.lateJoin?.(payload, info) ?? false;
    } catch (err) {
      this.o.hooks?.onFault?.('lateJoin', err);
    }
    if (served) return;
    // Too late after all (the body just ended or outgrew the bound): this one makes its own call.
    entry.size -= 1;
    this.contained('alone', () => this.o.executor.alone?.(payload, info));
  }

  /** The reply's body ended or outgrew the join bound: no more joins; the slot is done. */
  private endJoins(entry: SlotEntry<P>, type: 'body.ended' | 'body.overflowed'): void {
    if (entry.actor.getSnapshot().status === 'active') entry.actor.send({ type });
  }

  private fanOutFailure(context: BatchSlotContext, error: unknown): void {
    const entry = this.live.get(context.slotId);
    if (!entry) return;
    const info: SlotInfo = { slotId: entry.slotId, key: entry.key, size: entry.size };
    this.contained('fail', () => this.o.executor.fail(error, this.presentOf(entry, context), info));
  }

  private presentOf(entry: SlotEntry<P>, context: BatchSlotContext): P[] {
    return entry.waiters.expand(context.waiters.map((w) => w.waiterId));
  }

  /** Joins within this event-loop turn share the slot's open cohort; the next turn starts a new one. */
  private closeCohortAfterTurn(entry: SlotEntry<P>): void {
    this.openCohorts.add(entry);
    if (this.cohortCloserDue) return;
    this.cohortCloserDue = true;
    this.o.afterTurn(() => {
      this.cohortCloserDue = false;
      for (const e of this.openCohorts) e.waiters.closeCohort();
      this.openCohorts.clear();
    });
  }

  private onDone(entry: SlotEntry<P>, output: BatchSlotOutput | undefined): void {
    if (!this.live.has(entry.slotId)) return;
    this.clearTimer(entry);
    this.live.delete(entry.slotId);
    if (this.open.get(entry.key) === entry) this.open.delete(entry.key);
    entry.waiters.clear();
    this.openCohorts.delete(entry);
    entry.abort = undefined;
    entry.lateJoin = undefined;
    const outcome: SlotOutcome = output?.outcome ?? 'failed';
    const calls = outcome === 'cancelled' ? 0 : 1;
    const saved = Math.max(0, entry.size - calls);
    this.totals.calls += calls;
    this.totals.callsSaved += saved;
    this.o.hooks?.onSlotDone?.(outcome, saved);
    this.emit({ type: 'slot.done', slotId: entry.slotId, key: entry.key, outcome, size: entry.size });
    if (this.open.size === 0) this.policy.stop();
    if (this.live.size === 0 && this.idle) { const idle = this.idle; this.idle = undefined; idle(); }
  }

  private clearTimer(entry: SlotEntry<P>): void {
    if (entry.timer !== undefined) this.o.clock.clearTimeout(entry.timer);
    if (entry.holdTimer !== undefined) this.o.clock.clearTimeout(entry.holdTimer);
    entry.timer = undefined;
    entry.holdTimer = undefined;
  }

  private markUncoalesced(key: BatchKey): void {
    this.uncoalesced.mark(key, this.o.clock.now());
  }

  private emit(e: RegistryEvent): void {
    if (this.listeners.size === 0) return;
    for (const l of this.listeners) {
      try { l(e); } catch { /* a listener's fault is its own */ }
    }
  }

  private contained(what: string, fn: () => void): void {
    try { fn(); } catch (err) { this.o.hooks?.onFault?.(what, err); }
  }
}

// The registry of one target's batch slots: batch key → the live slot still taking joins. A join
// either lands in that slot or opens a new one (a slot machine actor plus, when `maxWaitMs` > 0, its
// timer); the flush policy is asked on every join and on a short tick. With joins in flight
// (coalesce) a slot keeps its key through its call and while its reply's body streams, so identical
// requests share the call in the air (singleflight); without (merge) a flushed slot leaves the key
// free for the next slot at once. What a batch *is* (one shared GET, or bodies merged into one call)
// is the executor's business: the registry only sees payloads.
//
// With `maxWaitMs: 0` the first request's call starts inside its `join`, on the same tick: no timer,
// no turn waited; with joins in flight too, that slot is a lone flight with no actor until a second
// client joins it (lone-flight.ts: the actor's cost doubled a lone request's CPU). Nothing here outlives its answer: a slot lives from its first join to its last
// answer (or the end of joins), a waiter from its join to its answer or leave, and timers exist only
// while a slot is waiting.
import { createActor } from 'xstate';
import type { BatchKey } from '../batch/index.ts';
import { newId } from '../ids.ts';
import { batchSlot, FlushReason } from '../machines/batch-slot.ts';
import type { BatchSlotEvent, BatchSlotMachine, SlotOutcome, Waiter } from '../machines/batch-slot.ts';
import { loneFlight, loneStep, promotedSnapshot, type LoneEffects } from './batching/lone-flight.ts';
import { JoinPhase } from './batching/registry-types.ts';
import type { BatchRegistryOptions, RegistryEvent, WaiterTicket } from './batching/registry-types.ts';
import { isActive, stateOf, takesJoins, Ticket, type SlotEntry } from './batching/slot-entry.ts';
import { SlotCalls } from './batching/slot-calls.ts';
import { SlotPolicyDriver } from './batching/slot-policy.ts';
import { SlotWaiters } from './batching/slot-waiters.ts';
import { UncoalescedKeys } from './batching/uncoalesced-keys.ts';

export { batchHeaderValue, JoinPhase } from './batching/registry-types.ts';
export type {
  BatchExecutor, BatchRegistryHooks, BatchRegistryOptions, FanOutResult, RegistryEvent, ReplyFlight, SlotInfo, SlotPolicy, WaiterTicket,
} from './batching/registry-types.ts';

export const DEFAULT_UNCOALESCED_TTL_MS = 10_000;
export const DEFAULT_RATE_HALF_LIFE_MS = 250;

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
  /** Each flushed slot's call and its answers (slot-calls.ts). */
  private readonly calls: SlotCalls<P, R>;
  /** A first join flushes at once and may be joined in flight: it opens a lone flight, not an actor. */
  private readonly lone: boolean;
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
      onOutcome: o.hooks?.onOutcome,
    });
    this.calls = new SlotCalls<P, R>({
      clock: o.clock, executor: o.executor, hooks: o.hooks, joinInFlight: o.joinInFlight ?? false, policy: this.policy,
      send: (entry, event) => this.send(entry, event),
      emit: (e) => this.emit(e),
      freeKey: (entry) => { if (this.open.get(entry.key) === entry) this.open.delete(entry.key); },
      clearTimers: (entry) => this.clearTimer(entry),
      uncoalesce: (key) => this.uncoalesced.mark(key, this.o.clock.now()),
      isActive,
    });
    this.uncoalesced = new UncoalescedKeys(o.uncoalescedTtlMs ?? DEFAULT_UNCOALESCED_TTL_MS);
    this.lone = o.maxWaitMs === 0 && (o.joinInFlight ?? false) && (o.loneFlights ?? true);
    // One provided machine per registry (provide() rebuilds the state tree); actions find their slot by id.
    this.machine = batchSlot.provide({
      actions: {
        callUpstream: ({ context }) => this.withSlot(context.slotId, (e) => this.calls.start(e, context.batch, context.flushReason ?? FlushReason.Size)),
        abortUpstream: ({ context }) => this.live.get(context.slotId)?.abort?.abort(),
        fanOutReply: ({ context, event }) => {
          if (event.type === 'upstream.replied') this.withSlot(context.slotId, (e) => this.calls.fanOutReply(e, context.waiters, event.reply as R));
        },
        fanOutFailure: ({ context, event }) => {
          if (event.type === 'upstream.failed') this.withSlot(context.slotId, (e) => this.calls.fanOutFailure(e, context.waiters, event.error));
        },
        serveJoiner: ({ context, event }) => {
          if (event.type === 'waiter.joined') this.withSlot(context.slotId, (e) => this.calls.serveJoiner(e, event.waiterId));
        },
        // Joins are only sent to slots that take them (takesJoins is checked first), so nothing is refused.
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
    let slot = this.open.get(key);
    if (!slot || !takesJoins(slot)) {
      if (this.lone) return this.openLone(key, payload, waiterId, now);
      slot = this.openSlot(key, now);
    }
    const state = stateOf(slot);
    const phase = state === 'waiting' ? 'waiting' : state === 'serving' ? JoinPhase.BeforeHead : JoinPhase.DuringBody;
    const ticket = new Ticket(waiterId, slot, this);
    if (phase === JoinPhase.DuringBody) {
      // Answered at once, each on its own (a cohort would hide all but its first client from the machine).
      const own = slot.waiters.addAlone(waiterId, payload);
      this.totals.joinedDuringBody++;
      this.emit({ type: 'waiter.joined', slotId: slot.slotId, waiterId, key, phase });
      this.o.hooks?.onJoinInFlight?.(phase);
      this.send(slot, { type: 'waiter.joined', waiterId: own.id, at: now });
      return ticket;
    }
    const cohort = phase === JoinPhase.BeforeHead ? slot.waiters.addInFlight(waiterId, payload) : slot.waiters.add(waiterId, payload);
    this.emit({ type: 'waiter.joined', slotId: slot.slotId, waiterId, key, phase });
    if (phase === JoinPhase.BeforeHead) {
      slot.size += 1; // answered by a call it did not make; uncounted again if it leaves first
      this.totals.joinedBeforeHead++;
      this.o.hooks?.onJoinInFlight?.(phase);
    }
    if (cohort) {
      this.send(slot, { type: 'waiter.joined', waiterId: cohort.id, at: now });
      // A join that flushed its slot closed the cohort already: nothing to end at the turn's end.
      if (slot.waiters.cohortOpen) this.closeCohortAfterTurn(slot);
    }
    if (phase === 'waiting' && stateOf(slot) === 'waiting') {
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
    if (stateOf(slot) === 'serving' && !slot.waiters.inCall(waiterId)) slot.size -= 1;
    const emptied = slot.waiters.remove(waiterId);
    this.emit({ type: 'waiter.left', slotId: slot.slotId, waiterId });
    if (emptied !== undefined && isActive(slot)) this.send(slot, { type: 'waiter.left', waiterId: emptied });
  }

  describe(): Record<string, unknown> {
    const now = this.o.clock.now();
    this.uncoalesced.sweep(now);
    const p99 = this.policy.p99();
    return {
      policy: this.o.policy.name, openSlots: this.open.size, liveSlots: this.live.size,
      // Clients still waiting for a head: a streaming slot's clients have theirs.
      waiting: [...this.open.values()].reduce((n, e) => n + (stateOf(e) === 'streaming' ? 0 : e.waiters.size), 0),
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

  private newEntry(key: BatchKey, now: number): SlotEntry<P> {
    const entry: SlotEntry<P> = {
      slotId: newId(), key, createdAt: now, actor: undefined, lone: undefined, waiters: new SlotWaiters<P>(), timer: undefined, holdTimer: undefined,
      abort: undefined, asking: false, size: 0, lateJoin: undefined,
    };
    this.open.set(key, entry);
    this.live.set(entry.slotId, entry);
    return entry;
  }

  /**
   * The first request for a key with no hold: its call starts now, as the machine's `flushesOnJoin`
   * would start it, but with no actor until a second client joins (lone-flight.ts says why).
   */
  private openLone(key: BatchKey, payload: P, waiterId: string, now: number): WaiterTicket {
    const entry = this.newEntry(key, now);
    const cohort = entry.waiters.add(waiterId, payload)!;
    this.emit({ type: 'waiter.joined', slotId: entry.slotId, waiterId, key, phase: 'waiting' });
    const waiter: Waiter = { waiterId: cohort.id, joinedAt: now };
    const flight = loneFlight(waiter, this.o.maxBatchSize);
    entry.lone = flight;
    this.contained('callUpstream', () => this.calls.start(entry, [waiter], flight.flushReason));
    return new Ticket(waiterId, entry, this);
  }

  private openSlot(key: BatchKey, now: number): SlotEntry<P> {
    const entry = this.newEntry(key, now);
    this.startActor(entry, createActor(this.machine, {
      input: {
        slotId: entry.slotId, maxBatchSize: this.o.maxBatchSize, createdAt: now, joinInFlight: this.o.joinInFlight ?? false,
        flushOnJoin: this.o.maxWaitMs === 0,
      },
    }));
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

  private startActor(entry: SlotEntry<P>, actor: SlotEntry<P>['actor'] & object): void {
    entry.actor = actor;
    actor.subscribe({
      complete: () => this.onDone(entry, actor.getSnapshot().output?.outcome),
      // Actions are contained, so this only guards against a fault in xstate itself.
      error: (err) => { this.o.hooks?.onFault?.('slot', err); this.onDone(entry, undefined); },
    });
    actor.start();
  }

  /** Sends an event to the slot's actor, or steps its lone flight; a join to a lone flight promotes it first. */
  private send(entry: SlotEntry<P>, event: BatchSlotEvent): void {
    if (!entry.actor && event.type === 'waiter.joined') this.promote(entry);
    if (entry.actor) { entry.actor.send(event); return; }
    loneStep(entry.lone!, event, this.loneEffects(entry));
  }

  /** A second client joined a lone flight: from now on the slot machine runs it, from the state it is in. */
  private promote(entry: SlotEntry<P>): void {
    const flight = entry.lone!;
    const input = { slotId: entry.slotId, maxBatchSize: this.o.maxBatchSize, createdAt: entry.createdAt, joinInFlight: true, flushOnJoin: true };
    entry.lone = undefined;
    // Restored, not started afresh: no entry action runs again (the call is already in the air).
    this.startActor(entry, createActor(this.machine, { snapshot: promotedSnapshot(this.machine, flight, input), input }));
  }

  private loneEffects(entry: SlotEntry<P>): LoneEffects {
    return {
      abortUpstream: () => entry.abort?.abort(),
      fanOutReply: (reply, waiters) => this.calls.fanOutReply(entry, waiters, reply as R),
      fanOutFailure: (error, waiters) => this.calls.fanOutFailure(entry, waiters, error),
      done: (outcome) => this.onDone(entry, outcome),
    };
  }

  private flush(entry: SlotEntry<P>, reason: FlushReason): void {
    if (!isActive(entry)) return;
    this.send(entry, { type: 'flush', reason, at: this.o.clock.now() });
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

  private onDone(entry: SlotEntry<P>, outcome: SlotOutcome | undefined): void {
    if (!this.live.has(entry.slotId)) return;
    this.clearTimer(entry);
    this.live.delete(entry.slotId);
    if (this.open.get(entry.key) === entry) this.open.delete(entry.key);
    entry.waiters.clear();
    this.openCohorts.delete(entry);
    entry.abort = undefined;
    entry.lateJoin = undefined;
    const ended: SlotOutcome = outcome ?? 'failed';
    const calls = ended === 'cancelled' ? 0 : 1;
    const saved = Math.max(0, entry.size - calls);
    this.totals.calls += calls;
    this.totals.callsSaved += saved;
    this.o.hooks?.onSlotDone?.(ended, saved);
    this.emit({ type: 'slot.done', slotId: entry.slotId, key: entry.key, outcome: ended, size: entry.size });
    if (this.open.size === 0) this.policy.stop();
    if (this.live.size === 0 && this.idle) { const idle = this.idle; this.idle = undefined; idle(); }
  }

  private clearTimer(entry: SlotEntry<P>): void {
    if (entry.timer !== undefined) this.o.clock.clearTimeout(entry.timer);
    if (entry.holdTimer !== undefined) this.o.clock.clearTimeout(entry.holdTimer);
    entry.timer = undefined;
    entry.holdTimer = undefined;
  }

  private withSlot(slotId: string, fn: (entry: SlotEntry<P>) => void): void {
    const entry = this.live.get(slotId);
    if (entry) this.contained('slot action', () => fn(entry));
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

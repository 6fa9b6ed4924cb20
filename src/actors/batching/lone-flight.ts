// A lone flight: a coalesce slot with no hold (`maxWaitMs: 0`) and, so far, one client. Most
// requests through a coalesce target find nothing to join: for them the slot machine would only
// walk waiting → serving → done (or → streaming → done), and creating and stepping its xstate actor
// cost about as much CPU as the rest of the request path (profiled: `node --cpu-prof`, sequential
// GETs). So a lone flight is a record of the few fields those steps touch, moved by `loneStep`
// below, which takes exactly the machine's transitions for one waiter in `serving` and `streaming`
// (src/machines/batch-slot.ts) and runs the same effects the registry provides to the machine.
//
// The slot is still the machine's: the moment anything the one-waiter subset does not cover
// happens — a second client joins, before the head or during the body — the registry promotes the
// flight to an actor restored in the flight's state (`promotedSnapshot`), and the machine takes
// every later event. A policy never acts on a lone flight: it only asks about `waiting` slots, and
// with no hold a slot leaves `waiting` on its first join. The registry test runs the same scenarios
// with and without lone flights and expects the same answers, events and hooks.
import type { Actor } from 'xstate';
import { FlushReason, SlotOutcome } from '../../machines/batch-slot.ts';
import type { BatchSlotEvent, BatchSlotInput, BatchSlotMachine, BatchSlotSnapshot, Waiter } from '../../machines/batch-slot.ts';

/** The two states a lone flight lives in (it is born flushed), and its end. */
export type LoneState = 'serving' | 'streaming' | 'done';

export interface LoneFlight {
  state: LoneState;
  /** The one machine waiter (a cohort id), frozen into the call. */
  readonly waiter: Waiter;
  /** The waiter left while the call was in flight: the call is being aborted and takes no joins. */
  aborting: boolean;
  outcome: SlotOutcome | null;
  readonly flushReason: FlushReason;
  readonly flushedAt: number;
  /** An effect is running: events it causes wait their turn, as in an actor's mailbox. */
  busy: boolean;
  queued: BatchSlotEvent[] | undefined;
}

/** The effects of the machine's actions, as the registry provides them (see BatchRegistry's `.provide`). */
export interface LoneEffects {
  abortUpstream(): void;
  fanOutReply(reply: unknown, waiters: readonly Waiter[]): void;
  fanOutFailure(error: unknown, waiters: readonly Waiter[]): void;
  /** Reached `done`: the actor's `complete`. */
  done(outcome: SlotOutcome): void;
}

/** A flight flushed on its first join (the machine's `flushesOnJoin` or `joinFillsBatch` path). */
export function loneFlight(waiter: Waiter, maxBatchSize: number): LoneFlight {
  return {
    state: 'serving', waiter, aborting: false, outcome: null,
    flushReason: maxBatchSize <= 1 ? FlushReason.Size : FlushReason.Timer, flushedAt: waiter.joinedAt, busy: false, queued: undefined,
  };
}

/** Whether a join now would be taken (the machine's `acceptsJoins`). */
export const loneTakesJoins = (f: LoneFlight): boolean => f.state === 'streaming' || (f.state === 'serving' && !f.aborting);

/**
 * One event for a lone flight. `waiter.joined` never comes here: the registry promotes the flight
 * first. Events sent while an effect runs are taken after it, in order.
 */
export function loneStep(f: LoneFlight, event: BatchSlotEvent, fx: LoneEffects): void {
  if (f.busy) { (f.queued ??= []).push(event); return; }
  f.busy = true;
  try {
    take(f, event, fx);
  } finally {
    f.busy = false;
  }
  const queued = f.queued;
  if (queued) { f.queued = undefined; for (const e of queued) loneStep(f, e, fx); }
}

function take(f: LoneFlight, event: BatchSlotEvent, fx: LoneEffects): void {
  const present = f.aborting ? [] : [f.waiter];
  if (f.state === 'serving') {
    switch (event.type) {
      case 'waiter.left':
        // isLastWaiter: the call is wasted; abort it and stay until it settles.
        if (!f.aborting && event.waiterId === f.waiter.waiterId) { f.aborting = true; fx.abortUpstream(); }
        return;
      case 'upstream.replied': {
        f.outcome = SlotOutcome.Replied;
        fx.fanOutReply(event.reply, present);
        // replyJoinable: a reply after every waiter left is nobody's to share.
        if (event.joinable === true && !f.aborting) { f.state = 'streaming'; return; }
        f.state = 'done';
        fx.done(f.outcome);
        return;
      }
      case 'upstream.failed':
        f.outcome = SlotOutcome.Failed;
        fx.fanOutFailure(event.error, present);
        f.state = 'done';
        fx.done(f.outcome);
        return;
      default: return; // flush is idempotent once serving
    }
  }
  if (f.state === 'streaming' && (event.type === 'body.ended' || event.type === 'body.overflowed')) {
    f.state = 'done';
    fx.done(SlotOutcome.Replied);
  }
}

/** The machine's snapshot of this flight, to restore an actor in it when a second client joins. */
export function promotedSnapshot(machine: BatchSlotMachine, f: LoneFlight, input: Required<BatchSlotInput>): BatchSlotSnapshot {
  return machine.resolveState({
    value: f.state === 'streaming' ? 'streaming' : 'serving',
    context: {
      ...input,
      waiters: f.aborting ? [] : [f.waiter], batch: [f.waiter], joinedBeforeHead: 0, joinedDuringBody: 0,
      flushReason: f.flushReason, flushedAt: f.flushedAt, outcome: f.outcome, abortUpstream: f.aborting,
    },
  });
}

export type SlotActor = Actor<BatchSlotMachine>;

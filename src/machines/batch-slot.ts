// One batch in the making: waiters gather while `waiting`, the first flush trigger freezes the batch
// and starts the single upstream call (`serving`), the reply's head fans out and, for a coalesced
// reply that may be shared, its body streams (`streaming`); the slot is `done` once no more waiters
// can join it.
//
// Join in flight (coalesce, `joinInFlight`): a request identical to one already in the air joins it
// rather than opening a second call (singleflight; Varnish's waiting list). While `serving` it waits
// with the others for the head; while `streaming` it is answered at once by the registry
// (`serveJoiner`: the head, then the body from its first byte). Joins stop when the body has ended
// or has grown past the join bound (`body.ended`, `body.overflowed`), when the reply may not be
// shared (`upstream.replied` with `joinable: false`), or once the call is being aborted. Merge
// batches never take joins after their flush: their call is made of the bodies frozen in it.
//
// The machine holds no timers and does no I/O: the registry actor owning it sends `flush` from its
// injected clock and provides the effects (`callUpstream`, `abortUpstream`, `fanOut*`,
// `serveJoiner`) with `.provide()`. That keeps it small enough for model-based tests to walk every
// path (STACK.md).
//
// One case runs without an actor: a coalesce slot with no hold whose call has one client (most
// requests, when nothing coalesces). The registry moves it by this machine's one-waiter transitions
// (src/actors/batching/lone-flight.ts, held to this machine by a random-script test) and restores an
// actor in its state the moment a second client joins.
import { assign, setup } from 'xstate';
import type { SnapshotFrom } from 'xstate';
import { InvalidArgumentError } from '../errors.ts';

export const FlushReason = { Timer: 'timer', Size: 'size', Policy: 'policy', Shutdown: 'shutdown' } as const;
export type FlushReason = (typeof FlushReason)[keyof typeof FlushReason];

/** How a slot ended. `cancelled`: every waiter left (or none came) before flush, so no upstream call. */
export const SlotOutcome = { Replied: 'replied', Failed: 'failed', Cancelled: 'cancelled' } as const;
export type SlotOutcome = (typeof SlotOutcome)[keyof typeof SlotOutcome];

export interface Waiter { readonly waiterId: string; /** Epoch ms. */ readonly joinedAt: number }

export interface BatchSlotInput {
  readonly slotId: string;
  /** Joins that fill a waiting slot to this size flush it with reason `size`. An integer ≥ 1. */
  readonly maxBatchSize: number;
  /** Epoch ms; the registry's clock. */
  readonly createdAt: number;
  /** Identical requests may join the call after its flush, until its reply is complete (coalesce). Default false. */
  readonly joinInFlight?: boolean;
  /**
   * No hold (`maxWaitMs: 0`): the first join flushes the slot in the same step, reason `timer` (its
   * age guard is already due). One machine step per request instead of two. Default false.
   */
  readonly flushOnJoin?: boolean;
}

export interface BatchSlotContext extends Required<BatchSlotInput> {
  /**
   * Waiters still owed an answer, in join order, until the reply: then the fan-out list. While
   * streaming, joiners are appended as they are served, so at the end it lists every waiter the
   * call answered (less those that left before the reply).
   */
  readonly waiters: readonly Waiter[];
  /** The waiters frozen into the upstream call at flush; empty before. Leaves never shrink it. */
  readonly batch: readonly Waiter[];
  /** Waiters that joined after the flush: before the head (`serving`) and while the body streamed. */
  readonly joinedBeforeHead: number;
  readonly joinedDuringBody: number;
  readonly flushReason: FlushReason | null;
  /** Epoch ms of the flush, when the trigger carried `at`. */
  readonly flushedAt: number | null;
  readonly outcome: SlotOutcome | null;
  /** Every waiter left while the call was in flight: the registry should abort it. */
  readonly abortUpstream: boolean;
}

export type BatchSlotEvent =
  | { type: 'waiter.joined'; waiterId: string; at: number }
  | { type: 'waiter.left'; waiterId: string }
  | { type: 'flush'; reason: FlushReason; at?: number }
  /**
   * `reply` is whatever the registry fans out; the machine only passes it to `fanOutReply`.
   * `joinable`: the reply may be shared and its body is still to come, so later identical requests
   * may join it (ignored unless `joinInFlight`).
   */
  | { type: 'upstream.replied'; reply?: unknown; joinable?: boolean }
  | { type: 'upstream.failed'; error?: unknown }
  /** The shared body ended (whole, failed or abandoned): joiners from now on need a new call. */
  | { type: 'body.ended' }
  /** The shared body grew past the join bound: what passed is no longer kept for joiners. */
  | { type: 'body.overflowed' };

export interface BatchSlotOutput {
  readonly slotId: string;
  readonly outcome: SlotOutcome;
  readonly flushReason: FlushReason | null;
  readonly batchSize: number;
  readonly joinedBeforeHead: number;
  readonly joinedDuringBody: number;
}

const noop = (): void => {};

export const batchSlot = setup({
  types: {
    input: {} as BatchSlotInput,
    context: {} as BatchSlotContext,
    events: {} as BatchSlotEvent,
    output: {} as BatchSlotOutput,
  },
  guards: {
    isPresent: ({ context, event }) =>
      'waiterId' in event && context.waiters.some((w) => w.waiterId === event.waiterId),
    // Duplicate joins are filtered by `isPresent` first, so this counts a new waiter.
    joinFillsBatch: ({ context }) => context.waiters.length + 1 >= context.maxBatchSize,
    flushesOnJoin: ({ context }) => context.flushOnJoin,
    isLastWaiter: ({ context, event }) =>
      'waiterId' in event && context.waiters.length === 1 && context.waiters[0]?.waiterId === event.waiterId,
    hasNoWaiters: ({ context }) => context.waiters.length === 0,
    // A call being aborted takes nobody new: the joiner would only inherit the abort.
    takesJoinsInFlight: ({ context }) => context.joinInFlight && !context.abortUpstream,
    // A reply that comes back after every waiter left (the abort lost the race) is nobody's to share.
    replyJoinable: ({ context, event }) =>
      context.joinInFlight && !context.abortUpstream && event.type === 'upstream.replied' && event.joinable === true,
  },
  actions: {
    addWaiter: assign({
      waiters: ({ context, event }) =>
        event.type === 'waiter.joined'
          ? [...context.waiters, { waiterId: event.waiterId, joinedAt: event.at }]
          : context.waiters,
    }),
    removeWaiter: assign({
      waiters: ({ context, event }) =>
        event.type === 'waiter.left' ? context.waiters.filter((w) => w.waiterId !== event.waiterId) : context.waiters,
    }),
    countBeforeHead: assign({ joinedBeforeHead: ({ context }) => context.joinedBeforeHead + 1 }),
    countDuringBody: assign({ joinedDuringBody: ({ context }) => context.joinedDuringBody + 1 }),
    freeze: assign(({ context, event }) => {
      const full = context.waiters.length >= context.maxBatchSize;
      const reason = event.type === 'flush' ? event.reason : context.flushOnJoin && !full ? FlushReason.Timer : FlushReason.Size;
      const at = event.type === 'flush' || event.type === 'waiter.joined' ? event.at ?? null : null;
      return { batch: context.waiters, flushReason: reason, flushedAt: at };
    }),
    markCancelled: assign({ outcome: SlotOutcome.Cancelled }),
    markReplied: assign({ outcome: SlotOutcome.Replied }),
    markFailed: assign({ outcome: SlotOutcome.Failed }),
    markAbort: assign({ abortUpstream: true }),
    // Effects the registry provides. They run synchronously inside `send`, after the context update.
    /** Entering `serving`: start the one upstream call for `context.batch`; stop the flush timer. */
    callUpstream: noop,
    /** Every waiter left mid-call: abort the upstream request (its failure still arrives as `upstream.failed`). */
    abortUpstream: noop,
    /** Answer each of `context.waiters` from `event.reply` (split it first in merge mode). */
    fanOutReply: noop,
    /** Answer each of `context.waiters` with one clear error from `event.error`. */
    fanOutFailure: noop,
    /** A waiter joined while the body streams: answer it now with the head and the body from its first byte. */
    serveJoiner: noop,
    /** A join reached a slot that takes no more; the registry opens a new slot for it. */
    refuseJoin: noop,
  },
}).createMachine({
  id: 'batchSlot',
  context: ({ input }) => {
    if (!Number.isSafeInteger(input.maxBatchSize) || input.maxBatchSize < 1) {
      throw new InvalidArgumentError(`'maxBatchSize' must be an integer ≥ 1, got ${input.maxBatchSize}`);
    }
    return {
      slotId: input.slotId,
      maxBatchSize: input.maxBatchSize,
      createdAt: input.createdAt,
      joinInFlight: input.joinInFlight ?? false,
      flushOnJoin: input.flushOnJoin ?? false,
      waiters: [],
      batch: [],
      joinedBeforeHead: 0,
      joinedDuringBody: 0,
      flushReason: null,
      flushedAt: null,
      outcome: null,
      abortUpstream: false,
    };
  },
  initial: 'waiting',
  states: {
    waiting: {
      on: {
        'waiter.joined': [
          { guard: 'isPresent' }, // a repeated join changes nothing
          { guard: 'joinFillsBatch', target: 'serving', actions: ['addWaiter', 'freeze'] },
          { guard: 'flushesOnJoin', target: 'serving', actions: ['addWaiter', 'freeze'] },
          { actions: 'addWaiter' },
        ],
        'waiter.left': [
          { guard: 'isLastWaiter', target: 'done', actions: ['removeWaiter', 'markCancelled'] },
          { actions: 'removeWaiter' },
        ],
        flush: [
          // A slot with nobody in it never calls upstream, whatever triggered the flush.
          { guard: 'hasNoWaiters', target: 'done', actions: 'markCancelled' },
          { target: 'serving', actions: 'freeze' },
        ],
      },
    },
    serving: {
      entry: 'callUpstream',
      on: {
        'waiter.joined': [
          { guard: 'isPresent' },
          // The size cap bounds a batch before its call; joiners in flight share a call already made.
          { guard: 'takesJoinsInFlight', actions: ['addWaiter', 'countBeforeHead'] },
          { actions: 'refuseJoin' },
        ],
        'waiter.left': [
          // The call is now wasted; abort it, but stay until it settles so the slot's end is observed once.
          { guard: 'isLastWaiter', actions: ['removeWaiter', 'markAbort', 'abortUpstream'] },
          { actions: 'removeWaiter' },
        ],
        flush: {}, // idempotent flush: later triggers (timer after size, shutdown after policy…) do nothing
        'upstream.replied': [
          { guard: 'replyJoinable', target: 'streaming', actions: ['markReplied', 'fanOutReply'] },
          { target: 'done', actions: ['markReplied', 'fanOutReply'] },
        ],
        'upstream.failed': { target: 'done', actions: ['markFailed', 'fanOutFailure'] },
      },
    },
    // The head has gone out; the body is on its way. Waiters answered here are the body tee's now:
    // one leaving ends its own copy, and the tee stops reading upstream only when all have gone.
    streaming: {
      on: {
        'waiter.joined': [
          { guard: 'isPresent' },
          { actions: ['addWaiter', 'countDuringBody', 'serveJoiner'] },
        ],
        'body.ended': 'done',
        'body.overflowed': 'done',
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({
    slotId: context.slotId,
    outcome: context.outcome ?? SlotOutcome.Cancelled,
    flushReason: context.flushReason,
    batchSize: context.batch.length,
    joinedBeforeHead: context.joinedBeforeHead,
    joinedDuringBody: context.joinedDuringBody,
  }),
});

export type BatchSlotMachine = typeof batchSlot;
export type BatchSlotSnapshot = SnapshotFrom<typeof batchSlot>;

/** Whether a join sent now would be taken; when not, the registry opens a new slot for the key. */
export function acceptsJoins(snapshot: BatchSlotSnapshot): boolean {
  if (snapshot.value === 'waiting' || snapshot.value === 'streaming') return true;
  return snapshot.value === 'serving' && snapshot.context.joinInFlight && !snapshot.context.abortUpstream;
}

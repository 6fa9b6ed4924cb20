// One batch in the making: waiters gather while `waiting`, the first flush trigger freezes the batch
// and starts the single upstream call (`serving`), and the reply or failure fans out (`done`).
// The machine holds no timers and does no I/O: the registry actor owning it sends `flush` from its
// injected clock and provides the effects (`callUpstream`, `abortUpstream`, `fanOut*`) with
// `.provide()`. That keeps it small enough for model-based tests to walk every path (STACK.md).
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
  /** Joins that fill the slot to this size flush it with reason `size`. An integer ≥ 1. */
  readonly maxBatchSize: number;
  /** Epoch ms; the registry's clock. */
  readonly createdAt: number;
}

export interface BatchSlotContext extends BatchSlotInput {
  /** Waiters still owed an answer, in join order. After flush this is the fan-out list. */
  readonly waiters: readonly Waiter[];
  /** The waiters frozen into the upstream call at flush; empty before. Leaves never shrink it. */
  readonly batch: readonly Waiter[];
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
  /** `reply` is whatever the registry fans out; the machine only passes it to `fanOutReply`. */
  | { type: 'upstream.replied'; reply?: unknown }
  | { type: 'upstream.failed'; error?: unknown };

export interface BatchSlotOutput {
  readonly slotId: string;
  readonly outcome: SlotOutcome;
  readonly flushReason: FlushReason | null;
  readonly batchSize: number;
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
    isLastWaiter: ({ context, event }) =>
      'waiterId' in event && context.waiters.length === 1 && context.waiters[0]?.waiterId === event.waiterId,
    hasNoWaiters: ({ context }) => context.waiters.length === 0,
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
    freeze: assign(({ context, event }) => {
      const reason = event.type === 'flush' ? event.reason : FlushReason.Size;
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
    /** A join reached a slot that is no longer waiting; the registry opens a new slot for it. */
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
      waiters: [],
      batch: [],
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
        'waiter.joined': { actions: 'refuseJoin' },
        'waiter.left': [
          // The call is now wasted; abort it, but stay until it settles so the slot's end is observed once.
          { guard: 'isLastWaiter', actions: ['removeWaiter', 'markAbort', 'abortUpstream'] },
          { actions: 'removeWaiter' },
        ],
        flush: {}, // idempotent flush: later triggers (timer after size, shutdown after policy…) do nothing
        'upstream.replied': { target: 'done', actions: ['markReplied', 'fanOutReply'] },
        'upstream.failed': { target: 'done', actions: ['markFailed', 'fanOutFailure'] },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({
    slotId: context.slotId,
    outcome: context.outcome ?? SlotOutcome.Cancelled,
    flushReason: context.flushReason,
    batchSize: context.batch.length,
  }),
});

export type BatchSlotMachine = typeof batchSlot;
export type BatchSlotSnapshot = SnapshotFrom<typeof batchSlot>;

/** Whether a join sent now would be taken; when not, the registry opens a new slot for the key. */
export const acceptsJoins = (snapshot: BatchSlotSnapshot): boolean => snapshot.value === 'waiting';

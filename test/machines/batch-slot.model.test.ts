// Model-based test of the batch slot: @xstate/graph walks every transition of the machine (each
// vertex is a state plus the event that reached it, so self-loops such as a second flush are walked
// too), and each path is replayed on a real actor whose effects are recorded, then checked against a
// small reference model written independently of the machine. The walk runs twice: with joins in
// flight (coalesce: joins accepted while serving and streaming, until the body ends or overflows)
// and without (merge: a flushed batch takes nobody new).
//
// @xstate/graph's createTestModel is used rather than @xstate/test 1.0.0-beta.5: the latter bundles
// @xstate/graph 2.0.0-beta.6, whose mock actor scope has no `actionExecutor`, so with xstate 5.33 it
// throws "originalExecutor is not a function" on the first transition that runs an action.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { createTestModel } from '@xstate/graph';
import { acceptsJoins, batchSlot } from '../../src/machines/batch-slot.ts';
import type { BatchSlotEvent, BatchSlotSnapshot } from '../../src/machines/batch-slot.ts';

// Three waiters without joins in flight; with them the graph grows with every state a joiner can
// meet, so the walk keeps two waiters and a size cap of two (still reaching every edge) to stay fast.
const WALKS = [
  { joinInFlight: true, flushOnJoin: false, ids: ['a', 'b'], maxBatchSize: 2 },
  { joinInFlight: true, flushOnJoin: true, ids: ['a', 'b'], maxBatchSize: 2 },
  { joinInFlight: false, flushOnJoin: false, ids: ['a', 'b', 'c'], maxBatchSize: 3 },
];
const ALL_IDS = ['a', 'b', 'c'];
const eventsFor = (ids: readonly string[]): BatchSlotEvent[] => [
  ...ids.map((waiterId, i) => ({ type: 'waiter.joined' as const, waiterId, at: i + 1 })),
  ...ids.map((waiterId) => ({ type: 'waiter.left' as const, waiterId })),
  { type: 'flush', reason: 'timer', at: 10 },
  { type: 'flush', reason: 'policy', at: 5 },
  { type: 'flush', reason: 'shutdown', at: 7 },
  { type: 'upstream.replied', joinable: true },
  { type: 'upstream.replied', joinable: false },
  { type: 'upstream.failed' },
  { type: 'body.ended' },
  { type: 'body.overflowed' },
];

// ---- Reference model: what the slot promises, stated as plainly as possible. ----
interface Reference {
  joinInFlight: boolean;
  flushOnJoin: boolean;
  maxBatchSize: number;
  phase: 'waiting' | 'serving' | 'streaming' | 'done';
  present: string[]; // waiters owed an answer (while streaming: every waiter the reply answered)
  batch: string[]; // waiters in the upstream call
  beforeHead: number; // joined while serving
  duringBody: number; // joined while streaming
  reason: string | null;
  calls: number;
  aborted: boolean;
  settledBy: 'replied' | 'failed' | 'cancelled' | null;
  answers: Record<string, number>;
  left: string[]; // waiters that left before the slot settled
}

const initialReference = (joinInFlight: boolean, flushOnJoin: boolean, maxBatchSize: number): Reference => ({
  joinInFlight, flushOnJoin, maxBatchSize, phase: 'waiting', present: [], batch: [], beforeHead: 0, duringBody: 0, reason: null, calls: 0,
  aborted: false, settledBy: null, answers: {}, left: [],
});

function referenceStep(r: Reference, e: BatchSlotEvent): Reference {
  const next: Reference = { ...r, present: [...r.present], answers: { ...r.answers }, left: [...r.left] };
  const serve = (reason: string): void => {
    if (next.present.length === 0) { next.phase = 'done'; next.settledBy = 'cancelled'; return; }
    next.phase = 'serving'; next.batch = [...next.present]; next.reason = reason; next.calls += 1;
  };
  switch (e.type) {
    case 'waiter.joined':
      if (r.phase === 'done' || r.present.includes(e.waiterId)) return r;
      next.left = next.left.filter((id) => id !== e.waiterId); // the walk reuses ids; requests never do
      if (r.phase === 'waiting') {
        next.present.push(e.waiterId);
        if (next.present.length >= r.maxBatchSize) serve('size');
        else if (r.flushOnJoin) serve('timer'); // no hold: the first join's own step makes the call
        return next;
      }
      // After the flush only joins in flight, and never into a call being aborted.
      if (!r.joinInFlight || r.aborted) return r;
      next.present.push(e.waiterId);
      if (r.phase === 'serving') next.beforeHead += 1;
      else { next.duringBody += 1; next.answers[e.waiterId] = (next.answers[e.waiterId] ?? 0) + 1; }
      return next;
    case 'waiter.left':
      // Once the head went out a waiter's body is the tee's business: leaving changes nothing here.
      if (r.phase === 'done' || r.phase === 'streaming' || !r.present.includes(e.waiterId)) return r;
      next.present = next.present.filter((id) => id !== e.waiterId);
      next.left.push(e.waiterId);
      if (next.present.length === 0 && r.phase === 'waiting') { next.phase = 'done'; next.settledBy = 'cancelled'; }
      if (next.present.length === 0 && r.phase === 'serving') next.aborted = true;
      return next;
    case 'flush':
      if (r.phase !== 'waiting') return r;
      serve(e.reason);
      return next;
    case 'upstream.replied':
    case 'upstream.failed':
      if (r.phase !== 'serving') return r;
      next.phase = e.type === 'upstream.replied' && e.joinable === true && r.joinInFlight && !r.aborted ? 'streaming' : 'done';
      next.settledBy = e.type === 'upstream.replied' ? 'replied' : 'failed';
      for (const id of next.present) next.answers[id] = (next.answers[id] ?? 0) + 1;
      return next;
    case 'body.ended':
    case 'body.overflowed':
      if (r.phase !== 'streaming') return r;
      next.phase = 'done';
      return next;
  }
}

// ---- The system under test: a real actor with recording effects. ----
function startSlot(input: { slotId: string; createdAt: number; maxBatchSize: number; joinInFlight: boolean; flushOnJoin: boolean }) {
  const rec = { calls: 0, callBatch: [] as string[], aborts: 0, answers: {} as Record<string, number>, refused: 0 };
  const answer = (ids: readonly { waiterId: string }[]): void => {
    for (const { waiterId } of ids) rec.answers[waiterId] = (rec.answers[waiterId] ?? 0) + 1;
  };
  const actor = createActor(
    batchSlot.provide({
      actions: {
        callUpstream: ({ context }) => { rec.calls += 1; rec.callBatch = context.batch.map((w) => w.waiterId); },
        abortUpstream: () => { rec.aborts += 1; },
        fanOutReply: ({ context }) => answer(context.waiters),
        fanOutFailure: ({ context }) => answer(context.waiters),
        serveJoiner: ({ event }) => { if (event.type === 'waiter.joined') answer([event]); },
        refuseJoin: () => { rec.refused += 1; },
      },
    }),
    { input },
  ).start();
  return { actor, rec };
}

function checkAgainstReference(ref: Reference, sut: ReturnType<typeof startSlot>, modelState: BatchSlotSnapshot): void {
  const snap = sut.actor.getSnapshot();
  const ctx = snap.context;
  assert.is(snap.value, modelState.value, 'the actor follows the model');
  assert.is(snap.value, ref.phase);
  // One upstream call at most, and exactly one iff a flush happened with at least one waiter.
  assert.ok(sut.rec.calls <= 1, 'never more than one upstream call');
  assert.is(sut.rec.calls, ref.calls);
  assert.equal(sut.rec.callBatch, ref.batch, 'the call carries the waiters present at flush');
  assert.equal(ctx.batch.map((w) => w.waiterId), ref.batch);
  assert.equal(ctx.waiters.map((w) => w.waiterId), ref.present);
  assert.is(ctx.joinedBeforeHead, ref.beforeHead);
  assert.is(ctx.joinedDuringBody, ref.duringBody);
  assert.is(ctx.flushReason, ref.reason);
  assert.is(ctx.abortUpstream, ref.aborted);
  assert.is(sut.rec.aborts, ref.aborted ? 1 : 0, 'the abort effect runs once, when the last waiter leaves mid-call');
  assert.is(ctx.outcome, ref.settledBy);
  assert.equal(sut.rec.answers, ref.answers);
  // The promises the registry relies on, stated directly.
  for (const id of ALL_IDS) {
    const n = sut.rec.answers[id] ?? 0;
    assert.ok(n <= 1, `${id} answered at most once`);
    if (ref.left.includes(id)) assert.is(n, 0, `${id} left, so gets no answer`);
    const answerable = ref.settledBy === 'replied' || ref.settledBy === 'failed';
    if (answerable && ref.present.includes(id)) assert.is(n, 1, `${id} stayed, so gets exactly one answer`);
    if (!answerable) assert.is(n, 0, 'nobody is answered before the call settles');
  }
  if (!ref.joinInFlight) assert.is(ctx.joinedBeforeHead + ctx.joinedDuringBody, 0, 'merge batches take nobody after the flush');
  // acceptsJoins is what the registry asks before sending a join: it must agree with the machine.
  const takes = ref.phase === 'waiting' || (ref.joinInFlight && !ref.aborted && (ref.phase === 'serving' || ref.phase === 'streaming'));
  assert.is(acceptsJoins(snap), takes, 'acceptsJoins agrees with the reference');
  if (ref.settledBy === 'cancelled') assert.is(sut.rec.calls, 0, 'a cancelled slot never called upstream');
}

const slotModel = suite('batch slot (model-based)');

for (const { joinInFlight, flushOnJoin, ids, maxBatchSize } of WALKS) {
  const input = { slotId: 'slot-1', createdAt: 0, maxBatchSize, joinInFlight, flushOnJoin };
  const EVENTS = eventsFor(ids);
  slotModel(`every transition of every reachable state keeps the reference model's promises (joinInFlight: ${joinInFlight}, flushOnJoin: ${flushOnJoin})`, async () => {
    const model = createTestModel(batchSlot, {
      events: EVENTS,
      // Joins in flight count up without end when a waiter leaves and another comes (the real
      // registry never reuses an id, the walk does): past 2 a count adds no new behaviour, so the
      // walk treats higher counts as the same vertex. The replay still checks the exact counts.
      // The event is part of the vertex, so each state is reached by every event into it.
      serializeState: (state, event) => JSON.stringify([state.value, {
        ...state.context,
        joinedBeforeHead: Math.min(2, state.context.joinedBeforeHead),
        joinedDuringBody: Math.min(2, state.context.joinedDuringBody),
      }, event ?? null]),
    });
    // Every event in every live state, not only the ones a state names: stray events (a reply before
    // any flush, a flush after one) must be harmless, and a targetless `flush: {}` is not an "own" event.
    const paths = model.getShortestPaths({
      input,
      limit: 200_000, // a bug that grows the context without bound fails here instead of hanging
      events: (state) => (state.status === 'done' ? [] : EVENTS),
    });
    const walked = new Set<string>();
    for (const path of paths) {
      const sut = startSlot(input);
      let ref = initialReference(joinInFlight, flushOnJoin, maxBatchSize);
      checkAgainstReference(ref, sut, sut.actor.getSnapshot());
      let from = String(sut.actor.getSnapshot().value);
      const send = (step: { event: { type: string } }): void => {
        const event = step.event as BatchSlotEvent;
        walked.add(`${from} ${event.type}`);
        sut.actor.send(event);
        ref = referenceStep(ref, event);
        from = String(sut.actor.getSnapshot().value);
      };
      await model.testPath(path, {
        events: {
          'waiter.joined': send, 'waiter.left': send, flush: send, 'upstream.replied': send, 'upstream.failed': send,
          'body.ended': send, 'body.overflowed': send,
        },
        states: { '*': (state) => checkAgainstReference(ref, sut, state) },
      });
    }
    // The walk really covered the interesting edges, not a degenerate corner of the graph.
    const edges = [
      'waiting waiter.joined', 'waiting waiter.left', 'waiting flush', 'waiting upstream.replied',
      'serving waiter.joined', 'serving waiter.left', 'serving flush', 'serving upstream.replied', 'serving upstream.failed',
      ...(joinInFlight ? ['streaming waiter.joined', 'streaming waiter.left', 'streaming body.ended', 'streaming body.overflowed', 'streaming flush'] : []),
    ];
    for (const edge of edges) assert.ok(walked.has(edge), `walked ${edge}`);
    assert.ok(paths.length > 300, `expected hundreds of paths, got ${paths.length}`);
  });
}

slotModel.run();

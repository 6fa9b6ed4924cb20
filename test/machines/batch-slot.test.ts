import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { VirtualClock } from '../../src/clock.ts';
import { ErrorCode } from '../../src/errors.ts';
import { acceptsJoins, batchSlot } from '../../src/machines/batch-slot.ts';
import type { BatchSlotInput } from '../../src/machines/batch-slot.ts';

function startSlot(input: Partial<BatchSlotInput> = {}) {
  const rec = {
    calls: [] as string[][], aborts: 0, refused: [] as string[],
    replies: [] as { waiterId: string; reply: unknown }[], failures: [] as { waiterId: string; error: unknown }[],
  };
  const actor = createActor(
    batchSlot.provide({
      actions: {
        callUpstream: ({ context }) => { rec.calls.push(context.batch.map((w) => w.waiterId)); },
        abortUpstream: () => { rec.aborts += 1; },
        fanOutReply: ({ context, event }) => {
          if (event.type !== 'upstream.replied') return;
          for (const w of context.waiters) rec.replies.push({ waiterId: w.waiterId, reply: event.reply });
        },
        fanOutFailure: ({ context, event }) => {
          if (event.type !== 'upstream.failed') return;
          for (const w of context.waiters) rec.failures.push({ waiterId: w.waiterId, error: event.error });
        },
        refuseJoin: ({ event }) => { if (event.type === 'waiter.joined') rec.refused.push(event.waiterId); },
      },
    }),
    { input: { slotId: 'slot-1', maxBatchSize: 3, createdAt: 1_000, ...input } },
  ).start();
  const join = (waiterId: string, at = 1_000): void => actor.send({ type: 'waiter.joined', waiterId, at });
  const leave = (waiterId: string): void => actor.send({ type: 'waiter.left', waiterId });
  return { actor, rec, join, leave, ctx: () => actor.getSnapshot().context };
}

const slot = suite('batch slot');

slot('flushes with reason size exactly when the maxBatchSize-th waiter joins', () => {
  const s = startSlot({ maxBatchSize: 3 });
  s.join('a', 1_001);
  s.join('b', 1_002);
  assert.is(s.actor.getSnapshot().value, 'waiting');
  assert.equal(s.rec.calls, []);
  s.join('c', 1_003);
  assert.is(s.actor.getSnapshot().value, 'serving');
  assert.is(s.ctx().flushReason, 'size');
  assert.is(s.ctx().flushedAt, 1_003);
  assert.equal(s.rec.calls, [['a', 'b', 'c']]);
  assert.equal(s.ctx().waiters, [
    { waiterId: 'a', joinedAt: 1_001 }, { waiterId: 'b', joinedAt: 1_002 }, { waiterId: 'c', joinedAt: 1_003 },
  ]);
});

slot('a maxBatchSize of 1 serves the first waiter at once', () => {
  const s = startSlot({ maxBatchSize: 1 });
  s.join('a');
  assert.is(s.ctx().flushReason, 'size');
  assert.equal(s.rec.calls, [['a']]);
});

slot('a repeated join of the same waiter neither duplicates it nor counts toward the size cap', () => {
  const s = startSlot({ maxBatchSize: 2 });
  s.join('a');
  s.join('a');
  assert.is(s.actor.getSnapshot().value, 'waiting');
  assert.equal(s.ctx().waiters.map((w) => w.waiterId), ['a']);
});

slot('a second flush trigger is a no-op: one call, and the first reason stands', () => {
  const s = startSlot({ maxBatchSize: 3 });
  s.join('a');
  s.join('b');
  s.actor.send({ type: 'flush', reason: 'timer', at: 1_020 });
  const afterFirst = s.actor.getSnapshot().context;
  s.actor.send({ type: 'flush', reason: 'policy', at: 1_021 });
  s.actor.send({ type: 'flush', reason: 'shutdown', at: 1_022 });
  s.join('c'); // would have been the size trigger
  assert.is(s.actor.getSnapshot().value, 'serving');
  assert.is(s.actor.getSnapshot().context, afterFirst, 'context untouched by later triggers');
  assert.is(s.ctx().flushReason, 'timer');
  assert.is(s.ctx().flushedAt, 1_020);
  assert.equal(s.rec.calls, [['a', 'b']]);
});

slot('joins are refused once serving, so the registry can open a new slot', () => {
  const s = startSlot();
  s.join('a');
  assert.ok(acceptsJoins(s.actor.getSnapshot()));
  s.actor.send({ type: 'flush', reason: 'policy' });
  assert.not.ok(acceptsJoins(s.actor.getSnapshot()));
  s.join('b');
  assert.equal(s.rec.refused, ['b']);
  assert.equal(s.ctx().waiters.map((w) => w.waiterId), ['a']);
  assert.equal(s.ctx().batch.map((w) => w.waiterId), ['a']);
  assert.is(s.ctx().flushedAt, null, 'a trigger without `at` records no flush time');
});

slot('when every waiter leaves before flush the slot is cancelled and never calls upstream', () => {
  const s = startSlot();
  s.join('a');
  s.join('b');
  s.leave('a');
  assert.is(s.actor.getSnapshot().value, 'waiting');
  s.leave('b');
  const snap = s.actor.getSnapshot();
  assert.is(snap.value, 'done');
  assert.is(snap.status, 'done');
  assert.equal(snap.output, { slotId: 'slot-1', outcome: 'cancelled', flushReason: null, batchSize: 0, joinedBeforeHead: 0, joinedDuringBody: 0 });
  s.actor.send({ type: 'flush', reason: 'timer' }); // the registry's timer may still fire
  assert.equal(s.rec.calls, []);
});

slot('a flush that finds no waiters cancels the slot without a call', () => {
  const s = startSlot();
  s.actor.send({ type: 'flush', reason: 'timer' });
  assert.is(s.actor.getSnapshot().context.outcome, 'cancelled');
  assert.equal(s.rec.calls, []);
});

slot('a waiter that leaves before flush is not part of the call', () => {
  const s = startSlot();
  s.join('a');
  s.join('b');
  s.leave('a');
  s.leave('nobody'); // unknown ids change nothing
  s.actor.send({ type: 'flush', reason: 'timer' });
  assert.equal(s.rec.calls, [['b']]);
});

slot('one waiter leaving mid-call is dropped from the fan-out and the others are answered once', () => {
  const s = startSlot();
  s.join('a');
  s.join('b');
  s.actor.send({ type: 'flush', reason: 'timer' });
  s.leave('a');
  assert.is(s.ctx().abortUpstream, false);
  assert.equal(s.ctx().batch.map((w) => w.waiterId), ['a', 'b'], 'the call still carries both');
  s.actor.send({ type: 'upstream.replied', reply: 'R' });
  assert.equal(s.rec.replies, [{ waiterId: 'b', reply: 'R' }]);
  assert.is(s.rec.aborts, 0);
  assert.equal(s.actor.getSnapshot().output, { slotId: 'slot-1', outcome: 'replied', flushReason: 'timer', batchSize: 2, joinedBeforeHead: 0, joinedDuringBody: 0 });
});

slot('when every waiter leaves mid-call the slot asks for an abort once and waits for the call to settle', () => {
  const s = startSlot();
  s.join('a');
  s.join('b');
  s.actor.send({ type: 'flush', reason: 'timer' });
  s.leave('a');
  s.leave('b');
  assert.is(s.ctx().abortUpstream, true);
  assert.is(s.rec.aborts, 1);
  assert.is(s.actor.getSnapshot().value, 'serving');
  s.leave('b');
  assert.is(s.rec.aborts, 1);
  s.actor.send({ type: 'upstream.failed', error: 'aborted' });
  assert.is(s.ctx().outcome, 'failed');
  assert.equal(s.rec.failures, []);
});

slot('an upstream failure reaches every remaining waiter once, with the error', () => {
  const s = startSlot();
  s.join('a');
  s.join('b');
  s.actor.send({ type: 'flush', reason: 'shutdown' });
  s.actor.send({ type: 'upstream.failed', error: 'E' });
  s.actor.send({ type: 'upstream.replied', reply: 'late' });
  assert.equal(s.rec.failures, [{ waiterId: 'a', error: 'E' }, { waiterId: 'b', error: 'E' }]);
  assert.equal(s.rec.replies, []);
  assert.is(s.ctx().outcome, 'failed');
});

slot('a reply before any flush is ignored', () => {
  const s = startSlot();
  s.join('a');
  s.actor.send({ type: 'upstream.replied', reply: 'stray' });
  assert.is(s.actor.getSnapshot().value, 'waiting');
  assert.equal(s.rec.replies, []);
});

slot('a timer flush sent from the injected clock serves at maxWaitMs, not before', () => {
  const clock = new VirtualClock(1_000);
  const s = startSlot({ createdAt: clock.now() });
  clock.setTimeout(() => s.actor.send({ type: 'flush', reason: 'timer', at: clock.now() }), 20);
  s.join('a', clock.now());
  clock.advance(19);
  assert.is(s.actor.getSnapshot().value, 'waiting');
  clock.advance(1);
  assert.is(s.ctx().flushReason, 'timer');
  assert.is(s.ctx().flushedAt, 1_020);
  assert.equal(s.rec.calls, [['a']]);
});

slot('an invalid maxBatchSize puts the actor in error with an InvalidArgument code', () => {
  for (const maxBatchSize of [0, -1, 1.5, Number.NaN]) {
    const actor = createActor(batchSlot, { input: { slotId: 's', maxBatchSize, createdAt: 0 } });
    let code: unknown;
    actor.subscribe({ error: (e) => { code = (e as { code?: unknown }).code; } });
    actor.start();
    assert.is(actor.getSnapshot().status, 'error');
    assert.is(code, ErrorCode.InvalidArgument);
  }
});

// Compile-time checks only: never called.
export function typeChecks(s: ReturnType<typeof startSlot>): void {
  // @ts-expect-error a flush needs one of the known reasons
  s.actor.send({ type: 'flush', reason: 'later' });
  // @ts-expect-error a join carries its arrival time
  s.actor.send({ type: 'waiter.joined', waiterId: 'a' });
  // @ts-expect-error events are dotted lower case
  s.actor.send({ type: 'FLUSH', reason: 'timer' });
}

slot.run();

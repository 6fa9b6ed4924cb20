// The batch registry on a virtual clock with a recording executor: one slot per key, the flush
// triggers (size, timer, policy, shutdown) and their idempotence, leaves before and after flush,
// fan-out to exactly the waiters still present, uncoalesced keys, and no slot or timer left behind.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ManualScheduler, VirtualClock } from '../../../src/clock.ts';
import { FlushDecision, timerPolicy } from '../../../src/batch/index.ts';
import type { BatchKey, FlushFeatures } from '../../../src/batch/index.ts';
import { BatchRegistry } from '../../../src/actors/batch-registry.ts';
import type { BatchExecutor, RegistryEvent, ReplyFlight, SlotInfo, SlotPolicy } from '../../../src/actors/batch-registry.ts';

interface Call { batch: string[]; signal: AbortSignal; slot: SlotInfo; resolve: (r: string) => void; reject: (e: unknown) => void; settled?: boolean }

function harness(o: { maxWaitMs?: number; maxBatchSize?: number; policy?: SlotPolicy; privateReply?: (r: string) => boolean; joinInFlight?: boolean; loneFlights?: boolean } = {}) {
  const clock = new VirtualClock(1_000);
  /** The last streaming reply's flight: the test ends its body. */
  const flights: ReplyFlight[] = [];
  const calls: Call[] = [];
  const answers = new Map<string, string[]>();
  const answer = (id: string, a: string): void => { answers.set(id, [...(answers.get(id) ?? []), a]); };
  const executor: BatchExecutor<string, string> = {
    call: (batch, signal, slot) => new Promise((resolve, reject) => calls.push({ batch: [...batch], signal, slot, resolve, reject })),
    fanOut: (reply, present, slot, flight) => {
      const priv = o.privateReply?.(reply) ?? false;
      present.forEach((id, i) => answer(id, priv && i > 0 ? 'alone' : o.joinInFlight ? `reply:${reply}:${slot.size}` : `reply:${reply}`));
      if (reply.startsWith('stream')) flights.push(flight);
      return {
        alone: priv ? Math.max(0, present.length - 1) : 0, uncoalesce: priv,
        ...(reply.startsWith('stream') ? { join: (id: string, s: SlotInfo) => { answer(id, `late:${reply}:${s.size}`); return true; } } : {}),
      };
    },
    // Replies named `stream…` have a body still to come, so joiners may share them.
    joinable: (reply) => reply.startsWith('stream'),
    fail: (error, present) => { for (const id of present) answer(id, `failed:${String(error)}`); },
  };
  const flushes: string[] = [];
  const done: string[] = [];
  const saved: number[] = [];
  const registry = new BatchRegistry<string, string>({
    clock, afterTurn: turns.schedule, executor, joinInFlight: o.joinInFlight ?? false, ...(o.loneFlights === undefined ? {} : { loneFlights: o.loneFlights }), maxWaitMs: o.maxWaitMs ?? 20, maxBatchSize: o.maxBatchSize ?? 4, policy: o.policy ?? timerPolicy,
    hooks: { onFlush: (reason) => flushes.push(reason), onSlotDone: (outcome, s) => { done.push(outcome); saved.push(s); } },
  });
  const events: RegistryEvent[] = [];
  registry.subscribe((e) => events.push(e));
  const join = (key: string, id: string) => registry.join(key as BatchKey, id, id);
  return { clock, calls, answers, registry, flushes, done, saved, events, join, flights };
}

// The registry ends its turns on this scheduler; `settle` ends one, then lets the promise chains of
// calls and replies run (the test's own pump: the registry never schedules on the real loop).
const turns = new ManualScheduler();
const settle = async (): Promise<void> => {
  turns.runTurn();
  await new Promise<void>((r) => setImmediate(r));
  turns.runTurn();
};

const registry = suite('batch registry');

registry('joins with one key share one slot and one call; another key gets its own', async () => {
  const h = harness();
  h.join('k1', 'a'); h.join('k1', 'b'); h.join('k2', 'c');
  assert.is(h.registry.liveSlots, 2);
  h.clock.advance(20);
  await settle();
  assert.equal(h.calls.map((c) => c.batch), [['a', 'b'], ['c']]);
  h.calls[0]!.resolve('one'); h.calls[1]!.resolve('two');
  await settle();
  assert.equal(Object.fromEntries(h.answers), { a: ['reply:one'], b: ['reply:one'], c: ['reply:two'] });
  assert.is(h.registry.liveSlots, 0);
  assert.equal(h.saved, [1, 0]);
});

registry('flushes for size exactly when the maxBatchSize-th waiter joins, and the next join opens a new slot', async () => {
  const h = harness({ maxBatchSize: 3 });
  h.join('k', 'a'); h.join('k', 'b');
  await settle();
  assert.is(h.calls.length, 0);
  const third = h.join('k', 'c');
  await settle();
  assert.equal(h.calls.map((c) => c.batch), [['a', 'b', 'c']]);
  assert.equal(h.flushes, ['size']);
  assert.ok(third.inCall);
  const fourth = h.join('k', 'd');
  assert.is.not(fourth.slotId, third.slotId);
  assert.is(h.registry.openSlots, 1);
  assert.is(h.registry.liveSlots, 2);
});

registry('flushes on the timer exactly maxWaitMs after the slot opened', async () => {
  const h = harness({ maxWaitMs: 20 });
  h.join('k', 'a');
  h.clock.advance(10);
  h.join('k', 'b');
  h.clock.advance(9);
  await settle();
  assert.is(h.calls.length, 0);
  h.clock.advance(1);
  await settle();
  assert.equal(h.calls.map((c) => c.batch), [['a', 'b']]);
  assert.equal(h.flushes, ['timer']);
  assert.is(h.clock.pending, 0, 'a flushed slot keeps no timer');
});

registry('a second trigger after the first is a no-op: one call, one answer each', async () => {
  const h = harness({ maxBatchSize: 2, maxWaitMs: 20 });
  h.join('k', 'a'); h.join('k', 'b'); // size flush
  h.clock.advance(50); // the timer was cleared; nothing fires
  await settle();
  assert.is(h.calls.length, 1);
  h.calls[0]!.resolve('r');
  await settle();
  assert.equal(h.answers.get('a'), ['reply:r']);
  assert.equal(h.answers.get('b'), ['reply:r']);
  assert.equal(h.flushes, ['size']);
});

registry('every waiter leaving before flush cancels the slot: no call, no timer, no slot', async () => {
  const h = harness();
  const a = h.join('k', 'a');
  const b = h.join('k', 'b');
  a.leave(); b.leave(); b.leave();
  h.clock.advance(100);
  await settle();
  assert.is(h.calls.length, 0);
  assert.equal(h.done, ['cancelled']);
  assert.is(h.registry.liveSlots, 0);
  assert.is(h.clock.pending, 0);
  assert.is(a.inCall, false);
});

registry('a waiter leaving after flush leaves the call and the others alone; the last one leaving aborts it', async () => {
  const h = harness({ maxBatchSize: 3 });
  const a = h.join('k', 'a');
  const b = h.join('k', 'b');
  h.join('k', 'c');
  await settle();
  const call = h.calls[0]!;
  a.leave();
  assert.is(call.signal.aborted, false);
  call.resolve('r');
  await settle();
  assert.equal(Object.fromEntries(h.answers), { b: ['reply:r'], c: ['reply:r'] });

  const d = h.join('k2', 'd'); const e = h.join('k2', 'e');
  h.clock.advance(20);
  await settle();
  const second = h.calls[1]!;
  d.leave();
  assert.is(second.signal.aborted, false);
  e.leave();
  assert.is(second.signal.aborted, true, 'aborted once nobody is left');
  second.reject(new Error('aborted'));
  await settle();
  assert.not.ok(h.answers.has('d') || h.answers.has('e'));
  assert.is(h.registry.liveSlots, 0);
  void b;
});

registry('clients joining over several event-loop turns count one by one for the size cap, leaves and abort', async () => {
  const h = harness({ maxBatchSize: 4 });
  const a = h.join('k', 'a'); const b = h.join('k', 'b'); // one turn: one cohort in the machine
  await settle();
  const c = h.join('k', 'c');
  await settle();
  a.leave(); b.leave();
  assert.is(h.registry.liveSlots, 1, 'c still waits');
  const d = h.join('k', 'd');
  await settle();
  const e = h.join('k', 'e');
  assert.is(h.calls.length, 0, 'three clients present: under the cap of four');
  const f = h.join('k', 'f');
  await settle();
  assert.equal(h.calls.map((x) => x.batch), [['c', 'd', 'e', 'f']]);
  assert.equal(h.flushes, ['size']);
  for (const t of [c, d, e]) t.leave();
  assert.is(h.calls[0]!.signal.aborted, false, 'f still waits for the answer');
  f.leave();
  assert.is(h.calls[0]!.signal.aborted, true);
});

registry('an upstream failure reaches every waiter as the same error', async () => {
  const h = harness({ maxBatchSize: 2 });
  h.join('k', 'a'); h.join('k', 'b');
  await settle();
  h.calls[0]!.reject('boom');
  await settle();
  assert.equal(Object.fromEntries(h.answers), { a: ['failed:boom'], b: ['failed:boom'] });
  assert.equal(h.done, ['failed']);
});

registry('a throwing executor call fails the batch instead of escaping', async () => {
  const clock = new VirtualClock();
  const failed: string[] = [];
  const r = new BatchRegistry<string, string>({
    clock, afterTurn: turns.schedule, maxWaitMs: 5, maxBatchSize: 1, policy: timerPolicy,
    executor: { call: () => { throw new Error('bad merge'); }, fanOut: () => {}, fail: (e, p) => { for (const id of p) failed.push(`${id}:${(e as Error).message}`); } },
  });
  r.join('k' as BatchKey, 'a', 'a');
  await settle();
  assert.equal(failed, ['a:bad merge']);
  assert.is(r.liveSlots, 0);
});

registry('a private reply marks its key uncoalesced for the TTL; the others are told to go alone', async () => {
  const h = harness({ maxBatchSize: 3, privateReply: (r) => r === 'secret' });
  h.join('k', 'a'); h.join('k', 'b'); h.join('k', 'c');
  await settle();
  h.calls[0]!.resolve('secret');
  await settle();
  assert.equal(Object.fromEntries(h.answers), { a: ['reply:secret'], b: ['alone'], c: ['alone'] });
  assert.equal(h.saved, [0], 'no call was saved');
  assert.ok(h.registry.isUncoalesced('k' as BatchKey));
  assert.not.ok(h.registry.isUncoalesced('other' as BatchKey));
  h.clock.advance(10_000);
  assert.not.ok(h.registry.isUncoalesced('k' as BatchKey));
  assert.is((h.registry.describe() as { uncoalescedKeys: number }).uncoalescedKeys, 0);
});

registry('a SERVE from the policy on join flushes with reason policy', async () => {
  const asked: FlushFeatures[] = [];
  const policy: SlotPolicy = { name: 'test', decide: (f) => { asked.push(f); return f.queueDepth >= 2 ? FlushDecision.Serve : FlushDecision.Wait; } };
  const h = harness({ policy, maxBatchSize: 10 });
  h.join('k', 'a');
  h.clock.advance(3);
  h.join('k', 'b');
  await settle();
  assert.equal(h.flushes, ['policy']);
  assert.equal(h.calls[0]!.batch, ['a', 'b']);
  assert.is(asked[1]!.slotAgeMs, 3);
  assert.is(asked[1]!.queueDepth, 2);
  assert.ok(asked[1]!.arrivalRatePerMs > 0);
});

registry('the policy is asked again on a tick while a slot waits', async () => {
  let serveAfter = 12;
  const policy: SlotPolicy = { name: 'test', decide: (f) => (f.slotAgeMs >= serveAfter ? FlushDecision.Serve : FlushDecision.Wait) };
  const h = harness({ policy, maxWaitMs: 20 });
  h.join('k', 'a');
  h.clock.advance(11);
  await settle();
  assert.is(h.calls.length, 0);
  h.clock.advance(5); // tick every 5 ms: asked at 15
  await settle();
  assert.equal(h.flushes, ['policy']);
  h.calls[0]!.resolve('r');
  await settle();
  assert.is(h.clock.pending, 0, 'no tick once no slot waits');
  serveAfter = 0;
});

registry('an asynchronous SERVE flushes the slot if it is still waiting; the guards hold when none comes', async () => {
  let answerNext: ((d: FlushDecision) => void) | undefined;
  const policy: SlotPolicy = { name: 'agent', decide: () => new Promise((r) => { answerNext = r; }) };
  const h = harness({ policy, maxWaitMs: 20 });
  h.join('k', 'a');
  answerNext!(FlushDecision.Serve);
  await settle();
  assert.equal(h.flushes, ['policy']);
  h.join('k2', 'b'); // this ask never gets an answer
  h.clock.advance(20);
  await settle();
  assert.equal(h.flushes, ['policy', 'timer']);
});

registry('close flushes every waiting slot (shutdown) and resolves once all have answered', async () => {
  const h = harness({ maxWaitMs: 1_000 });
  h.join('k', 'a'); h.join('k2', 'b');
  let closed = false;
  const closing = h.registry.close().then(() => { closed = true; });
  await settle();
  assert.equal(h.flushes, ['shutdown', 'shutdown']);
  assert.not.ok(closed);
  for (const c of h.calls) c.resolve('bye');
  await closing;
  assert.is(h.registry.liveSlots, 0);
  assert.is(h.clock.pending, 0);
});

registry('no slot, waiter or timer is left after many joins and answers', async () => {
  const h = harness({ maxBatchSize: 7, maxWaitMs: 3 });
  for (let i = 0; i < 20_000; i++) {
    const t = h.join(`k${i % 13}`, `w${i}`);
    if (i % 5 === 0) t.leave();
    if (i % 50 === 0) h.clock.advance(1);
    if (h.calls.length > 0) for (const c of h.calls.splice(0)) c.resolve('r');
    if (i % 100 === 0) await settle();
  }
  h.clock.advance(10);
  await settle();
  for (const c of h.calls.splice(0)) c.resolve('r');
  await settle();
  assert.is(h.registry.liveSlots, 0);
  assert.is(h.registry.openSlots, 0);
  assert.is(h.clock.pending, 0);
  const answered = [...h.answers.values()];
  assert.ok(answered.every((a) => a.length === 1), 'every waiter answered at most once');
  assert.is(answered.length, 20_000 - 4_000, 'every waiter that stayed was answered');
});

registry('with maxWaitMs 0 the first join starts the call at once: no timer is set and no turn is waited for', async () => {
  const h = harness({ maxWaitMs: 0, joinInFlight: true });
  h.join('k', 'a');
  assert.is(h.clock.pending, 0, 'no timer');
  assert.equal(h.flushes, ['timer']);
  await Promise.resolve(); // the call is made a microtask later, never inside the machine's transition
  assert.equal(h.calls.map((c) => c.batch), [['a']]);
});

registry('joins in flight: before the head they wait for the reply, during the body they are served at once, after it a new call', async () => {
  const h = harness({ maxWaitMs: 0, joinInFlight: true });
  h.join('k', 'a');
  await Promise.resolve();
  h.join('k', 'b'); // before the head
  h.join('k', 'c');
  assert.is(h.registry.liveSlots, 1);
  assert.is(h.calls.length, 1);
  h.calls[0]!.resolve('stream-1');
  await settle();
  assert.equal(Object.fromEntries(h.answers), { a: ['reply:stream-1:3'], b: ['reply:stream-1:3'], c: ['reply:stream-1:3'] });
  h.join('k', 'd'); // during the body: answered inside join, with the count so far
  assert.equal(h.answers.get('d'), ['late:stream-1:4']);
  assert.is(h.calls.length, 1);
  h.flights[0]!.ended();
  assert.is(h.registry.liveSlots, 0);
  assert.equal(h.done, ['replied']);
  assert.equal(h.saved, [3], 'four clients, one call');
  h.join('k', 'e'); // after completion
  await Promise.resolve();
  assert.is(h.calls.length, 2);
  assert.equal(h.events.filter((e) => e.type === 'waiter.joined').map((e) => e.type === 'waiter.joined' && e.phase),
    ['waiting', 'before_head', 'before_head', 'during_body', 'waiting']);
});

registry('joiners in flight over many turns share the call: it is aborted only when the last of them has left', async () => {
  const h = harness({ maxWaitMs: 0, joinInFlight: true });
  const lead = h.join('k', 'a');
  await settle();
  const joiners = ['b', 'c', 'd'].map((id) => { const t = h.join('k', id); turns.runTurn(); return t; }); // one a turn, as a steady stream brings them
  lead.leave(); joiners[0]!.leave(); joiners[2]!.leave();
  assert.is(h.calls[0]!.signal.aborted, false, 'one client still waits');
  joiners[1]!.leave();
  assert.is(h.calls[0]!.signal.aborted, true, 'every client left');
  const late = h.join('k', 'e'); // a call being aborted takes nobody new
  await settle();
  assert.is(h.calls.length, 2);
  h.calls[0]!.reject('aborted'); h.calls[1]!.resolve('whole');
  await settle();
  assert.equal(Object.fromEntries(h.answers), { e: ['reply:whole:1'] });
  late.leave();
  assert.is(h.registry.liveSlots, 0);
});

registry('a body past the join bound, or a reply that cannot be shared, takes no joiners: the next join opens a new call', async () => {
  const h = harness({ maxWaitMs: 0, joinInFlight: true });
  h.join('k', 'a');
  await Promise.resolve();
  h.calls[0]!.resolve('stream-big');
  await settle();
  h.flights[0]!.overflowed();
  h.join('k', 'b');
  await Promise.resolve();
  assert.is(h.calls.length, 2);
  h.calls[1]!.resolve('whole'); // not joinable: the slot ends with its fan-out
  await settle();
  assert.is(h.registry.liveSlots, 0);
  h.join('k', 'c');
  await Promise.resolve();
  assert.is(h.calls.length, 3);
});

registry('without joins in flight (merge) a join after the flush opens a new slot', async () => {
  const h = harness({ maxWaitMs: 0 });
  h.join('k', 'a');
  h.join('k', 'b');
  await Promise.resolve();
  assert.equal(h.calls.map((c) => c.batch), [['a'], ['b']]);
});

registry('timer flushes and cohort ends run on the injected scheduler, not the real event loop', async () => {
  const h = harness({ maxWaitMs: 20 });
  h.join('k', 'a');
  h.clock.advance(20);
  await new Promise<void>((r) => setImmediate(r));
  assert.is(h.calls.length, 0, 'the real loop turning does not flush');
  turns.runTurn();
  await Promise.resolve();
  assert.equal(h.calls.map((c) => c.batch), [['a']]);
});

// A lone flight (one client, no hold: no actor until a second client joins) must behave exactly as
// the slot machine does. The machine is the reference (its model-based test walks it): the same
// random script of joins, leaves, replies (shareable, streaming, private), failures and body ends
// runs against a registry with lone flights and one without, and every answer, registry event,
// hook call, call batch and abort must match.
type Op =
  | { t: 'join' } | { t: 'leave'; i: number } | { t: 'settle' }
  | { t: 'reply'; i: number; kind: 'stream' | 'whole' | 'private' } | { t: 'fail'; i: number }
  | { t: 'end'; i: number; overflow: boolean };
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant<Op>({ t: 'join' }), weight: 4 },
  fc.record({ t: fc.constant('leave' as const), i: fc.nat(40) }),
  fc.constant<Op>({ t: 'settle' }),
  fc.record({ t: fc.constant('reply' as const), i: fc.nat(10), kind: fc.constantFrom('stream' as const, 'whole' as const, 'private' as const) }),
  fc.record({ t: fc.constant('fail' as const), i: fc.nat(10) }),
  fc.record({ t: fc.constant('end' as const), i: fc.nat(10), overflow: fc.boolean() }),
);

async function play(ops: readonly Op[], loneFlights: boolean, maxBatchSize: number) {
  const h = harness({ maxWaitMs: 0, joinInFlight: true, maxBatchSize, loneFlights, privateReply: (r) => r.startsWith('private') });
  const tickets: Array<ReturnType<typeof h.join>> = [];
  let n = 0;
  for (const o of ops) {
    const pending = h.calls.filter((c) => !c.settled);
    if (o.t === 'join') tickets.push(h.join('k', `w${n++}`));
    else if (o.t === 'leave' && tickets.length) tickets[o.i % tickets.length]!.leave();
    else if (o.t === 'settle') await settle();
    else if (o.t === 'reply' && pending.length) { const c = pending[o.i % pending.length]!; c.settled = true; c.resolve(`${o.kind}-${h.calls.indexOf(c)}`); }
    else if (o.t === 'fail' && pending.length) { const c = pending[o.i % pending.length]!; c.settled = true; c.reject(`boom-${h.calls.indexOf(c)}`); }
    else if (o.t === 'end' && h.flights.length) { const f = h.flights[o.i % h.flights.length]!; if (o.overflow) f.overflowed(); else f.ended(); }
    await Promise.resolve();
  }
  await settle();
  // Slot ids are random: name each by the order it first appeared.
  const ids = new Map<string, number>();
  const slot = (id: string): number => { if (!ids.has(id)) ids.set(id, ids.size); return ids.get(id)!; };
  return {
    answers: Object.fromEntries(h.answers),
    events: h.events.map((e) => JSON.stringify({ ...e, slotId: slot(e.slotId) })),
    flushes: h.flushes, done: h.done, saved: h.saved,
    calls: h.calls.map((c) => ({ batch: c.batch, aborted: c.signal.aborted, size: c.slot.size, slot: slot(c.slot.slotId) })),
    live: h.registry.liveSlots, described: h.registry.describe(),
  };
}

registry('a lone flight answers, counts and reports exactly as the slot machine does (random scripts, both ways)', async () => {
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), fc.constantFrom(1, 4), async (ops, maxBatchSize) => {
    const lone = await play(ops, true, maxBatchSize);
    const actors = await play(ops, false, maxBatchSize);
    assert.equal(lone, actors);
  }), { numRuns: 150 });
});

registry('a lone flight is promoted to a slot actor when a second client joins, before the head or during the body', async () => {
  for (const when of ['before head', 'during body'] as const) {
    const h = harness({ maxWaitMs: 0, joinInFlight: true });
    h.join('k', 'a');
    await Promise.resolve();
    if (when === 'during body') { h.calls[0]!.resolve('stream-1'); await settle(); }
    h.join('k', 'b');
    if (when === 'before head') { h.calls[0]!.resolve('stream-1'); await settle(); }
    h.flights[0]!.ended();
    assert.equal(Object.fromEntries(h.answers), when === 'before head'
      ? { a: ['reply:stream-1:2'], b: ['reply:stream-1:2'] }
      : { a: ['reply:stream-1:1'], b: ['late:stream-1:2'] }, when);
    assert.equal([h.calls.length, h.done, h.saved, h.registry.liveSlots], [1, ['replied'], [1], 0], when);
  }
});

registry.run();

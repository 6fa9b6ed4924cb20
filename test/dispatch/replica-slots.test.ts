import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { DEFAULT_DISPATCH_CONFIG, ReplicaSlots } from '../../src/dispatch/replica-slots.ts';
import type { Ticket } from '../../src/dispatch/replica-slots.ts';
import { dispatchSchema } from '../../src/config/schema.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const slots = suite('replica slots');

slots('runs up to `concurrency` calls, queues up to `queueCap`, and refuses the rest', () => {
  const s = new ReplicaSlots(2, 1);
  assert.equal([s.acquire(0), s.acquire(0)], [{ type: 'run' }, { type: 'run' }]);
  assert.is(s.acquire(1).type, 'queued');
  assert.equal(s.acquire(2), { type: 'full' });
  assert.is(s.inFlight, 2);
  assert.is(s.queued, 1);
});

slots('a release hands the slot to the oldest queued ticket', () => {
  const s = new ReplicaSlots(1, 3);
  s.acquire(0);
  const t1 = s.acquire(10), t2 = s.acquire(20);
  assert.equal(s.release(), { ticket: (t1 as { ticket: Ticket }).ticket, enqueuedAt: 10 });
  assert.is(s.inFlight, 1, 'the slot passed on, not freed');
  assert.equal(s.release()?.ticket, (t2 as { ticket: Ticket }).ticket);
  assert.is(s.release(), undefined);
  assert.is(s.inFlight, 0);
});

slots('a ticket whose client left is removed and never handed a slot', () => {
  const s = new ReplicaSlots(1, 2);
  s.acquire(0);
  const t1 = s.acquire(1) as { ticket: Ticket }, t2 = s.acquire(2) as { ticket: Ticket };
  assert.ok(s.cancel(t1.ticket));
  assert.not.ok(s.cancel(t1.ticket), 'only once');
  assert.is(s.release()?.ticket, t2.ticket);
  assert.not.ok(s.cancel(t2.ticket), 'already running: the caller must release it instead');
});

slots('a queue of 0 refuses as soon as every slot is taken', () => {
  const s = new ReplicaSlots(1, 0);
  s.acquire(0);
  assert.equal(s.acquire(0), { type: 'full' });
});

slots('releasing with nothing running is a bug', () => {
  assert.throws(() => new ReplicaSlots(1, 1).release(), (e: unknown) => e instanceof InvalidArgumentError);
});

slots('refuses a concurrency below 1 or a negative queue', () => {
  assert.throws(() => new ReplicaSlots(0, 1), (e: unknown) => e instanceof InvalidArgumentError);
  assert.throws(() => new ReplicaSlots(1, -1), (e: unknown) => e instanceof InvalidArgumentError);
  assert.equal([ReplicaSlots.fromConfig(DEFAULT_DISPATCH_CONFIG).concurrency, ReplicaSlots.fromConfig(DEFAULT_DISPATCH_CONFIG).queueCap], [64, 256]);
});

type Op = { type: 'acquire' } | { type: 'release' } | { type: 'cancel'; which: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ type: 'acquire' as const }),
  fc.constant({ type: 'release' as const }),
  fc.nat(50).map((which) => ({ type: 'cancel' as const, which })),
);

slots('in flight never exceeds the cap, the queue never exceeds its cap, and tickets run in arrival order', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.nat(4), fc.array(op, { maxLength: 80 }), (concurrency, queueCap, ops) => {
    const s = new ReplicaSlots(concurrency, queueCap);
    // The reference: how many run, and which tickets wait in which order.
    let running = 0;
    const waiting: Ticket[] = [];
    let now = 0;
    for (const o of ops) {
      now++;
      if (o.type === 'acquire') {
        const a = s.acquire(now);
        const expected = running < concurrency ? 'run' : waiting.length < queueCap ? 'queued' : 'full';
        if (a.type !== expected) return false;
        if (a.type === 'run') running++;
        if (a.type === 'queued') waiting.push(a.ticket);
      } else if (o.type === 'release') {
        if (running === 0) continue;
        const next = s.release();
        if (next?.ticket !== waiting.shift()) return false;
        if (next === undefined) running--;
      } else {
        const t = waiting[o.which % Math.max(1, waiting.length)];
        if (t === undefined) continue;
        if (!s.cancel(t)) return false;
        waiting.splice(waiting.indexOf(t), 1);
      }
      if (s.inFlight > concurrency || s.queued > queueCap) return false;
      if (s.inFlight !== running || s.queued !== waiting.length) return false;
      if (s.queued > 0 && s.inFlight < concurrency) return false;
    }
    return true;
  }), { numRuns: 2_000 });
});

slots('takes the parsed `dispatch` config section as it is, with the same defaults', () => {
  const parsed = dispatchSchema.parse({});
  assert.equal(parsed, { ...DEFAULT_DISPATCH_CONFIG });
  const s = ReplicaSlots.fromConfig(dispatchSchema.parse({ concurrency: 2, queue: 0 }));
  assert.equal([s.concurrency, s.queueCap], [2, 0]);
});

slots.run();

// A running circuit breaker for one replica: the circuit-breaker machine in an xstate actor, with
// its timers driven by an injected Clock. The dispatcher asks `acquire()` before a call and reports
// `onResult()` after it; an open breaker answers at once with how long to wait (503 Retry-After).
//
// The machine only says when a timer is due (`nextTimerAt`); this wrapper arms one clock timer for
// it. Timers may fire late (a busy event loop) or, with real clocks, a millisecond early, so every
// call first catches up with a timer already due, and an early timer re-arms itself.
import { createActor } from 'xstate';
import type { Clock, TimerId } from '../clock.ts';
import { breakerState, circuitBreaker, nextTimerAt, retryAfterMs, successTrips, tryAcquire } from './circuit-breaker.ts';
import type { BreakerActor, BreakerConfig, BreakerEvent, BreakerReason, BreakerSnapshot, BreakerState } from './circuit-breaker.ts';

/** Proof of admission: pass it back to `onResult` so a late result of an older state is ignored. */
export interface BreakerPermit { readonly epoch: number }

export type BreakerAdmission =
  | { readonly admitted: true; readonly permit: BreakerPermit }
  | { readonly admitted: false; /** Answer 503 with this Retry-After (ms, > 0). */ readonly retryAfterMs: number };

export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** Epoch ms of the change. */
  readonly at: number;
  readonly reason: BreakerReason;
}

export interface Breaker {
  /** The state as of the last event; a due timer is only caught up by the next call. */
  readonly state: BreakerState;
  /** Takes a permit if one is free: always while closed, `probes` in all while half-open. */
  tryAcquire(): boolean;
  /** tryAcquire with the permit to report back, or how long the refused caller should wait. */
  acquire(): BreakerAdmission;
  /** Reports a finished call. `ok` comes from classifyOutcome (src/dispatch/outcome.ts). */
  onResult(ok: boolean, durationMs: number, permit?: BreakerPermit): void;
  /** Ms until a call could be let through; 0 when it would be now. */
  retryAfterMs(): number;
  /** Calls `listener` after every state change (for metrics and logs); returns the unsubscribe. */
  subscribe(listener: (t: BreakerTransition) => void): () => void;
  snapshot(): BreakerSnapshot;
  /** Stops the actor and its timer; afterwards every call is refused and results are dropped. */
  stop(): void;
}

export interface CreateBreakerOptions {
  readonly config: BreakerConfig;
  readonly clock: Clock;
  /** A transition listener threw; by default the error is dropped so metrics cannot break calls. */
  readonly onListenerError?: ((err: unknown) => void) | undefined;
}

export function createBreaker({ config, clock, onListenerError }: CreateBreakerOptions): Breaker {
  const actor: BreakerActor = createActor(circuitBreaker, { input: { config, at: clock.now() } }).start();
  const listeners = new Set<(t: BreakerTransition) => void>();
  let timer: { id: TimerId; at: number } | undefined;
  let stopped = false;
  // Fast successes while closed, not yet sent to the machine (see onResult).
  const pending = { count: 0, bucket: 0, at: 0 };

  // Every event goes through here, so listeners run after xstate has finished processing: one may
  // call back into the breaker without meeting xstate's queue of events sent mid-transition.
  function send(event: BreakerEvent): void {
    if (event.type !== 'calls.succeeded') flush();
    const before = actor.getSnapshot();
    actor.send(event);
    const after = actor.getSnapshot();
    arm(after);
    if (after.context.epoch !== before.context.epoch) {
      emit({ from: breakerState(before), to: breakerState(after), at: after.context.since, reason: after.context.reason! });
    }
  }

  function flush(): void {
    if (pending.count === 0) return;
    const count = pending.count;
    pending.count = 0;
    send({ type: 'calls.succeeded', count, at: pending.at });
  }

  /**
   * Hot path: most results are fast successes while closed. Sending each through the machine cost
   * ~20 µs per upstream call in profiles, so a run of them within one rolling bucket is counted here
   * and sent as one `calls.succeeded` before any other event, when the bucket changes, or before a
   * snapshot is read. Each success is still checked against the trip rules as it arrives
   * (`successTrips`), so the breaker trips on exactly the call it would have tripped on.
   */
  function deferSuccess(ok: boolean, durationMs: number, permit: BreakerPermit | undefined): boolean {
    const snap = actor.getSnapshot();
    const c = snap.context;
    if (!ok || snap.value !== 'closed' || durationMs > c.config.slowCallMs) return false;
    if (permit !== undefined && permit.epoch !== c.epoch) return false;
    const at = clock.now();
    const bucket = Math.floor(at / c.window.bucketMs);
    if (pending.count > 0 && bucket !== pending.bucket) flush();
    if (successTrips(actor.getSnapshot().context, pending.count, at)) return false;
    pending.count++;
    pending.bucket = bucket;
    pending.at = at;
    return true;
  }

  function emit(t: BreakerTransition): void {
    for (const l of [...listeners]) {
      try { l(t); } catch (err) { onListenerError?.(err); }
    }
  }

  function arm(s: BreakerSnapshot): void {
    const due = nextTimerAt(s);
    if (timer?.at === due) return;
    if (timer) clock.clearTimeout(timer.id);
    timer = undefined;
    if (due === null || stopped) return;
    timer = { at: due, id: clock.setTimeout(() => fire(due), Math.max(0, due - clock.now())) };
  }

  function fire(due: number): void {
    if (timer?.at !== due || stopped) return;
    timer = undefined;
    if (clock.now() < due) arm(actor.getSnapshot());
    else catchUp();
  }

  function catchUp(): void {
    const due = nextTimerAt(actor.getSnapshot());
    if (due !== null && clock.now() >= due) send({ type: 'timer.expired', at: clock.now() });
  }

  function acquire(): BreakerAdmission {
    // A refusal always names a wait of at least 1 ms: "retry after 0" would invite a busy loop.
    if (stopped) return { admitted: false, retryAfterMs: 1 };
    catchUp();
    const snap = actor.getSnapshot();
    // Hot path: a closed breaker admits every call and `call.requested` changes nothing there but
    // `admitted`, which only answers that same request. Skipping the event halves the machine work
    // per upstream call without changing any transition.
    if (snap.value === 'closed') return { admitted: true, permit: { epoch: snap.context.epoch } };
    if (tryAcquire(actor)) return { admitted: true, permit: { epoch: actor.getSnapshot().context.epoch } };
    return { admitted: false, retryAfterMs: Math.max(1, retryAfterMs(actor.getSnapshot(), clock.now())) };
  }

  return {
    get state() { return breakerState(actor.getSnapshot()); },
    tryAcquire: () => acquire().admitted,
    acquire,
    onResult(ok, durationMs, permit) {
      if (stopped) return;
      catchUp();
      if (deferSuccess(ok, durationMs, permit)) return;
      send({ type: 'call.finished', ok, durationMs, at: clock.now(), epoch: permit?.epoch });
    },
    retryAfterMs() {
      if (stopped) return 0;
      catchUp();
      return retryAfterMs(actor.getSnapshot(), clock.now());
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
    snapshot: () => { if (!stopped) flush(); return actor.getSnapshot(); },
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clock.clearTimeout(timer.id);
      timer = undefined;
      listeners.clear();
      actor.stop();
    },
  };
}

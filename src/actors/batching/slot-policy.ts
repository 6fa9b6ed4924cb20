// Asking a target's flush policy about its waiting slots: the features it sees (queue depth, the
// target's arrival rate, slot age, upstream p99), when it is asked (on every join, and on a short
// tick for policies that neither name a hold nor are `timer`), and acting on its answer: a SERVE,
// given at once or later, or the hold it names (one timer per slot). The guards are not here: a
// slot's size cap and its `maxWaitMs` timer serve it whatever the policy says.
import type { Clock, TimerId } from '../../clock.ts';
import { arrivalRate, FlushDecision, guard, LatencyWindow, ratePerMs, recordArrivals } from '../../batch/index.ts';
import type { ArrivalRate, BatchKey, FlushFeatures, FlushOutcome } from '../../batch/index.ts';
import { FlushReason } from '../../machines/batch-slot.ts';
import type { SlotPolicy } from './registry-types.ts';

/** What the policy reads of a waiting slot, and the two fields kept on it for the policy. */
export interface PolicySlot {
  readonly key: BatchKey;
  readonly createdAt: number;
  readonly waiters: { readonly size: number };
  /** An answer is pending: the slot is not asked again until it comes. */
  asking: boolean;
  /** The hold timer of a policy that names its hold. */
  holdTimer: TimerId | undefined;
}

/** What the driver needs from the registry that owns the slots. */
export interface SlotPolicyHost<S extends PolicySlot> {
  readonly clock: Clock;
  readonly policy: SlotPolicy;
  readonly maxWaitMs: number;
  readonly maxBatchSize: number;
  /** How often waiting slots are re-asked; default maxWaitMs/4 within 1…5 ms. */
  readonly tickMs?: number | undefined;
  readonly rateHalfLifeMs: number;
  /** Serves the slot (a no-op once it has left `waiting`). */
  flush(slot: S, reason: FlushReason): void;
  /** The slot still takes joins for its key: a late SERVE for a slot already served is dropped. */
  isOpen(slot: S): boolean;
  /** The slots taking joins now, asked on each tick. */
  openSlots(): Iterable<S>;
  hasOpenSlots(): boolean;
  closing(): boolean;
  onFault(what: string, error: unknown): void;
  /** A flushed slot's call ended (policy telemetry), besides the policy's own `outcome`. */
  onOutcome?: ((outcome: FlushOutcome) => void) | undefined;
}

/** A flushed slot's call, as the policy learns from it. */
export interface StartedCall {
  readonly key: BatchKey;
  readonly size: number;
  readonly createdAt: number;
  readonly reason: FlushReason;
  /** Epoch ms each client in the call joined its slot. */
  readonly joinedAt: readonly number[];
}

export class SlotPolicyDriver<S extends PolicySlot> {
  private readonly latency = new LatencyWindow(256);
  private readonly ticking: boolean;
  private readonly tickMs: number;
  private rate: ArrivalRate;
  private tick: TimerId | undefined;

  constructor(private readonly h: SlotPolicyHost<S>) {
    this.rate = arrivalRate(h.rateHalfLifeMs, h.clock.now());
    // `timer` says WAIT whatever it is asked; its guards are the size cap (in the machine) and the timer.
    // Policies that name their hold get one timer per slot; the rest are asked on a tick.
    this.ticking = h.policy.name !== 'timer' && !h.policy.holdMs;
    this.tickMs = h.tickMs ?? Math.min(5, Math.max(1, Math.round(h.maxWaitMs / 4)));
  }

  /** A request for `key` arrived at `now`. */
  arrived(key: BatchKey, now: number): void {
    this.rate = recordArrivals(this.rate, now);
    if (!this.h.policy.arrived) return;
    try { this.h.policy.arrived(key, now); } catch (err) { this.h.onFault('policy.arrived', err); }
  }

  /**
   * A slot flushed and its call starts now: the policy observes the batch. Returns what to call when
   * the call ends (feeds the p99 on success, and the outcome to a policy or hook that learns).
   */
  callStarted(call: StartedCall, now: number): (failed: boolean) => void {
    const { policy, onOutcome } = this.h;
    const observation = { batchSize: call.size, slotAgeMs: now - call.createdAt, arrivalRatePerMs: ratePerMs(this.rate, now), key: call.key, now };
    if (policy.observe) {
      try { policy.observe(observation); } catch (err) { this.h.onFault('policy.observe', err); }
    }
    const learns = policy.outcome !== undefined || onOutcome !== undefined;
    return (failed) => {
      const end = this.h.clock.now();
      if (!failed) this.latency.record(end - now);
      if (!learns) return;
      const holdSum = call.joinedAt.reduce((sum, at) => sum + (now - at), 0);
      // Spelled out: `{ ...observation, more }` cost ~10 µs a call under Node 20 (measured), more than the rest of a lone request's slot.
      const o: FlushOutcome = {
        batchSize: observation.batchSize, slotAgeMs: observation.slotAgeMs, arrivalRatePerMs: observation.arrivalRatePerMs, key: observation.key, now,
        upstreamMs: end - now, meanHoldMs: call.joinedAt.length ? holdSum / call.joinedAt.length : 0, failed, reason: call.reason,
      };
      try { policy.outcome?.(o); } catch (err) { this.h.onFault('policy.outcome', err); }
      try { onOutcome?.(o); } catch (err) { this.h.onFault('onOutcome', err); }
    };
  }

  ratePerMs(now: number): number { return ratePerMs(this.rate, now); }

  /** Recent upstream p99, NaN while no call has answered. */
  p99(): number { return this.latency.quantile(0.99); }

  /** A slot started waiting: asked on the tick from now on, when the policy is. */
  slotOpened(): void { if (this.ticking) this.startTick(); }

  /** Nothing waits any more (or the registry closes): no tick until a slot opens again. */
  stop(): void {
    if (this.tick !== undefined) this.h.clock.clearTimeout(this.tick);
    this.tick = undefined;
  }

  /**
   * Asks the policy whether a waiting slot should be served now. The size guard lives in the machine
   * (the join that fills the slot flushes it) and the age guard in the slot's timer: checking age
   * here as well would cut a burst that the event loop is still reading in one turn into two calls.
   */
  consult(slot: S, now: number): void {
    if (this.h.policy.holdMs) { this.hold(slot, now); return; }
    if (!this.ticking || slot.asking) return;
    const f = this.features(slot, now);
    if (guard(f) !== undefined) return; // the guard's own flush is already due
    let decision: FlushDecision | PromiseLike<FlushDecision>;
    try {
      decision = this.h.policy.decide(f);
    } catch (err) {
      this.h.onFault('policy.decide', err);
      return; // the guards still hold
    }
    if (typeof decision === 'string') {
      if (decision === FlushDecision.Serve) this.h.flush(slot, FlushReason.Policy);
      return;
    }
    slot.asking = true;
    Promise.resolve(decision).then(
      (d) => {
        slot.asking = false;
        if (d === FlushDecision.Serve && this.h.isOpen(slot)) this.h.flush(slot, FlushReason.Policy);
      },
      (err: unknown) => { slot.asking = false; this.h.onFault('policy.decide', err); },
    );
  }

  /**
   * For a policy that names its hold: serve now if the slot is old enough, else (re)arm the slot's
   * one policy timer. Asked on every join, since each join moves the key's rate and so the hold.
   */
  private hold(slot: S, now: number): void {
    const f = this.features(slot, now);
    let hold: number;
    try {
      hold = this.h.policy.holdMs!(f);
    } catch (err) {
      this.h.onFault('policy.holdMs', err);
      return; // the guards still hold
    }
    if (!(hold < this.h.maxWaitMs)) return; // the maxWaitMs timer serves it
    if (f.slotAgeMs >= hold) { this.h.flush(slot, FlushReason.Policy); return; }
    if (slot.holdTimer !== undefined) this.h.clock.clearTimeout(slot.holdTimer);
    slot.holdTimer = this.h.clock.setTimeout(() => {
      slot.holdTimer = undefined;
      this.h.flush(slot, FlushReason.Policy);
    }, slot.createdAt + hold - now);
  }

  private features(slot: S, now: number): FlushFeatures {
    return {
      queueDepth: slot.waiters.size,
      arrivalRatePerMs: ratePerMs(this.rate, now),
      slotAgeMs: now - slot.createdAt,
      upstreamP99Ms: this.latency.quantile(0.99),
      maxWaitMs: this.h.maxWaitMs,
      maxBatchSize: this.h.maxBatchSize,
      key: slot.key,
      now,
    };
  }

  private startTick(): void {
    if (this.tick !== undefined || this.h.closing()) return;
    this.tick = this.h.clock.setTimeout(() => {
      this.tick = undefined;
      const now = this.h.clock.now();
      for (const slot of [...this.h.openSlots()]) this.consult(slot, now);
      if (this.h.hasOpenSlots()) this.startTick();
    }, this.tickMs);
  }
}

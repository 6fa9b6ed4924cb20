// Decides when the next upstream call of a paced target may go out.
// GCRA in its virtual-scheduling form (ITU-T I.371): each call takes the next slot of the
// theoretical arrival time, TAT = max(now, TAT) + windowMs / quota (seed 003), so calls leave evenly
// spaced instead of in a burst at the top of each window. `burst` lets that many calls go back to
// back after an idle spell (GCRA's tolerance τ = (burst − 1) × interval); idle time beyond τ is not banked.
import { InvalidArgumentError } from '../errors.ts';

export interface PaceConfig {
  /** Calls per window; positive, need not be whole (0.5 per minute = one call every two minutes). Required. */
  readonly quota: number;
  /** Window length in ms; positive. Required. */
  readonly windowMs: number;
  /** Calls that may leave back to back after idle; integer ≥ 1. Default 1: strictly even spacing. */
  readonly burst?: number;
}

export const DEFAULT_PACE_BURST = 1;

/**
 * TAT = anchorAt + slots × windowMs / quota. Keeping a slot count instead of adding the interval
 * call after call means a fractional interval (60000 / 7 ms) is rounded once, never accumulated.
 */
export interface PaceState { readonly anchorAt: number; readonly slots: number }

/** No call has been paced yet: the first one goes at once. */
export const emptyPaceState: PaceState = Object.freeze({ anchorAt: 0, slots: 0 });

export interface PaceReservation {
  readonly state: PaceState;
  /** Epoch ms at which the reserved call may leave; whole ms, never earlier than its exact slot. */
  readonly sendAt: number;
  /** sendAt − now: how long the caller waits. */
  readonly delayMs: number;
}

// Float slack for `k × windowMs / quota` landing a hair above a whole ms it should equal.
const ROUNDING_SLACK_MS = 1e-6;

export function checkPaceConfig(config: PaceConfig): void {
  const { quota, windowMs, burst = DEFAULT_PACE_BURST } = config;
  if (!Number.isFinite(quota) || quota <= 0) throw new InvalidArgumentError(`pace.quota must be a positive number, got ${quota}`);
  if (!Number.isFinite(windowMs) || windowMs <= 0) throw new InvalidArgumentError(`pace.windowMs must be a positive number of ms, got ${windowMs}`);
  if (!Number.isSafeInteger(burst) || burst < 1) throw new InvalidArgumentError(`pace.burst must be an integer ≥ 1, got ${burst}`);
}

/** Theoretical arrival time in epoch ms: when the next call would go if it had to wait its full turn. */
export const tatAt = (state: PaceState, config: PaceConfig): number =>
  state.anchorAt + (state.slots * config.windowMs) / config.quota;

/** Reserves the next slot for a call made at `now`. */
export function pace(state: PaceState, config: PaceConfig, now: number): PaceReservation {
  checkPaceConfig(config);
  checkNow(now);
  // An idle pacer re-anchors at now: the slots it did not use are gone, not saved up.
  const base: PaceState = now >= tatAt(state, config) ? { anchorAt: now, slots: 0 } : state;
  const sendAt = sendAtFor(base, config, now);
  return { state: { anchorAt: base.anchorAt, slots: base.slots + 1 }, sendAt, delayMs: sendAt - now };
}

/** The delay a call made at `now` would get, without reserving anything. */
export function peekDelayMs(state: PaceState, config: PaceConfig, now: number): number {
  checkPaceConfig(config);
  checkNow(now);
  if (now >= tatAt(state, config)) return 0;
  return sendAtFor(state, config, now) - now;
}

function sendAtFor(base: PaceState, config: PaceConfig, now: number): number {
  const toleranceSlots = (config.burst ?? DEFAULT_PACE_BURST) - 1;
  const exactAt = base.anchorAt + ((base.slots - toleranceSlots) * config.windowMs) / config.quota;
  return Math.max(now, Math.ceil(exactAt - ROUNDING_SLACK_MS));
}

function checkNow(now: number): void {
  if (!Number.isFinite(now)) throw new InvalidArgumentError(`now must be finite epoch ms, got ${now}`);
}

/** A pacer for one target: the state above behind `reserve`, for an actor that owns it. */
export class Pacer {
  private state: PaceState = emptyPaceState;
  private readonly config: PaceConfig;

  constructor(config: PaceConfig) {
    checkPaceConfig(config);
    this.config = Object.freeze({ ...config });
  }

  /** Takes the next slot; returns how many ms the call must wait before it leaves. */
  reserve(now: number): number {
    const r = pace(this.state, this.config, now);
    this.state = r.state;
    return r.delayMs;
  }

  /** The wait a call made now would get; reserves nothing (for Retry-After and metrics). */
  peekDelay(now: number): number { return peekDelayMs(this.state, this.config, now); }

  /** Theoretical arrival time, epoch ms. */
  get tatAt(): number { return tatAt(this.state, this.config); }
}

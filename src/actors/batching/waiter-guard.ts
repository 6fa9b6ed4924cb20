// Exactly one answer per waiting client. Three things race to answer it: the batch (reply, failure),
// its own deadline (`maxClientWaitMs`, answered 504) and the client going away. The first to
// `claim()` answers; the others find it taken and do nothing. The loser's cleanup (leaving the slot)
// is the caller's, done right after its claim, so a slot never fans out to a waiter already answered.
//
// This runs once per request in a burst of thousands, so it stays cheap: one timer, one listener on
// the response's `close` (an EventEmitter, lighter than the AbortSignal, never removed: a claimed guard
// ignores it), and the combined abort signal only for the rare waiter that makes its own call.
import type { Clock, TimerId } from '../../clock.ts';
import { anySignal, LightAbortController } from '../../abort.ts';
import type { RequestContext } from '../../proxy/request-context.ts';

export interface WaiterGuardHandlers {
  /** The deadline passed first: answer 504 and leave the slot. */
  deadline(): void;
  /** The client went away first: leave the slot (nothing to write). */
  gone(): void;
}

export class WaiterGuard {
  private claimed = false;
  private timer: TimerId | undefined;
  private expired: LightAbortController | undefined;
  private combined: AbortSignal | undefined;

  constructor(private readonly ctx: RequestContext, private readonly clock: Clock, maxWaitMs: number, private readonly h: WaiterGuardHandlers) {
    // Inline arrows, not arrow class fields: tsx names every named closure it creates (a
    // defineProperty each), and this runs once per waiting client.
    this.timer = clock.setTimeout(() => this.onDeadline(), maxWaitMs);
    if (ctx.clientGone.aborted) queueMicrotask(() => this.onGone());
    else ctx.res.once('close', () => this.onGone());
  }

  get answered(): boolean { return this.claimed; }

  /** Aborted when the client leaves or its deadline passes: cancels work done on its behalf. */
  get signal(): AbortSignal {
    this.expired ??= new LightAbortController();
    this.combined ??= anySignal([this.ctx.clientGone, this.expired.signal]);
    return this.combined;
  }

  /** True exactly once: the caller now owns the answer. Stops the deadline and the disconnect watch. */
  claim(): boolean {
    if (this.claimed) return false;
    this.claimed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    // The `close` listener stays: once claimed it does nothing, and it goes with the response.
    return true;
  }

  private onDeadline(): void {
    this.timer = undefined;
    this.expired?.abort();
    if (this.claim()) this.h.deadline();
  }

  private onGone(): void {
    if (this.claim()) this.h.gone();
  }
}

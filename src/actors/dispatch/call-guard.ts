// The deadline and cancellation of one dispatched call. One AbortController covers every step — the
// queue wait, each attempt, each backoff — and aborts when the caller's signal does or when the
// target's `timeoutMs` has passed since the call began, on the injected clock. Which of the two
// happened matters: a deadline is the replica's failure (and a 504), a caller leaving is nobody's.
import type { Clock, TimerId } from '../../clock.ts';
import { UpstreamTimeoutError } from '../../errors.ts';
import { LightAbortController } from '../../abort.ts';

export class CallGuard {
  private readonly controller = new LightAbortController();
  private timer: TimerId | undefined;
  private expired = false;

  constructor(private readonly clock: Clock, private readonly caller: AbortSignal | undefined, readonly deadlineAt: number,
    private readonly timeoutMs: number, private readonly upstream: string) {
    if (caller?.aborted) this.controller.abort(caller.reason);
    // Stays after the answer head: the caller leaving mid-body still aborts the upstream read.
    else caller?.addEventListener('abort', () => this.controller.abort(caller.reason), { once: true });
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      this.expired = true;
      this.controller.abort(this.timeoutError());
    }, Math.max(0, deadlineAt - clock.now()));
  }

  /** Aborts every step of the call. */
  get signal(): AbortSignal { return this.controller.signal; }
  /** The deadline passed before an answer head arrived. */
  get timedOut(): boolean { return this.expired; }
  /** The caller went away: the call's outcome says nothing about the replica. */
  get callerGone(): boolean { return !this.expired && this.caller?.aborted === true; }

  timeoutError(): UpstreamTimeoutError { return new UpstreamTimeoutError(this.upstream, this.timeoutMs); }

  /** The answer head is in hand (or the call failed): the deadline no longer applies. */
  settle(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves after `ms` on the clock; rejects with the abort reason if the call is aborted first. */
  wait(ms: number): Promise<void> {
    const signal = this.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { this.clock.clearTimeout(id); reject(signal.reason); };
      const id = this.clock.setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

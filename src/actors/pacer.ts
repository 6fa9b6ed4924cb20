// Spaces a target's upstream calls by theoretical arrival time (the GCRA Pacer in src/limit/gcra.ts)
// on the injected clock. Waiting calls queue in order; a call whose client leaves drops out of the
// queue without taking a slot, so an abandoned wait never delays the calls behind it.
import type { Clock, TimerId } from '../clock.ts';
import type { PaceConfig } from '../config/schema.ts';
import { Pacer } from '../limit/gcra.ts';
import type { UpstreamPacer } from './target-parts.ts';

interface Waiter { resolve: () => void; reject: (err: unknown) => void; signal?: AbortSignal | undefined; onAbort?: () => void }

export class GcraUpstreamPacer implements UpstreamPacer {
  private readonly pacer: Pacer;
  private readonly queue: Waiter[] = [];
  private timer: TimerId | undefined;
  private released = 0;

  constructor(private readonly config: PaceConfig, private readonly clock: Clock) {
    this.pacer = new Pacer({ quota: config.quota, windowMs: config.windowMs });
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length === 0 && this.pacer.peekDelay(this.clock.now()) === 0) {
      this.pacer.reserve(this.clock.now());
      this.released++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, signal };
      if (signal) {
        w.onAbort = () => this.leave(w, signal.reason);
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.schedule();
    });
  }

  /** Calls waiting for their turn. */
  get waiting(): number { return this.queue.length; }

  describe(): unknown {
    return { quota: this.config.quota, windowMs: this.config.windowMs, tatAt: this.pacer.tatAt, waiting: this.queue.length, released: this.released };
  }

  /**
   * Queued calls still leave at their pace (a target replaced by the admin API finishes its work);
   * nothing new is held.
   */
  close(): void {}

  private schedule(): void {
    if (this.timer !== undefined) return;
    while (this.queue.length > 0) {
      const now = this.clock.now();
      const delay = this.pacer.peekDelay(now);
      if (delay > 0) {
        this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.schedule(); }, delay);
        return;
      }
      this.pacer.reserve(now);
      const w = this.queue.shift()!;
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      this.released++;
      w.resolve();
    }
  }

  private leave(w: Waiter, reason: unknown): void {
    const i = this.queue.indexOf(w);
    if (i < 0) return;
    this.queue.splice(i, 1);
    w.reject(reason);
  }
}

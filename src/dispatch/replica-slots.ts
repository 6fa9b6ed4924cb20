// Admission to one replica: at most `concurrency` calls run, at most `queueCap` wait in FIFO order,
// and any more are refused at once ('full' → 503), so sluice never buffers without bound.
//
//   acquire ──▶ run     (inFlight < concurrency)
//           ──▶ queued  (else, queue.length < queueCap) ──release()──▶ run, oldest first
//           ──▶ full                                    ──cancel()───▶ gone (client left)
//
// Invariant: 0 ≤ inFlight ≤ concurrency and 0 ≤ queued ≤ queueCap, and a queued ticket exists only
// while every slot is taken. Mutable and owned by one dispatcher, like undici's FixedQueue.
import { InvalidArgumentError } from '../errors.ts';
import type { AffinityConfig } from './affinity.ts';

/** The `dispatch` section of a target. */
export interface DispatchConfig {
  /** Calls running at once per replica. Default 64. */
  readonly concurrency: number;
  /** Calls waiting per replica beyond `concurrency`; a full queue answers 503. Default 256. */
  readonly queue: number;
  /** Session affinity; none when absent. */
  readonly affinity?: AffinityConfig | undefined;
}

export const DEFAULT_DISPATCH_CONFIG: Readonly<DispatchConfig> = Object.freeze({ concurrency: 64, queue: 256 });

export type Ticket = number & { readonly __brand: 'Ticket' };

export interface QueuedTicket {
  readonly ticket: Ticket;
  /** Epoch ms it joined the queue: how long it waited is `now - enqueuedAt`. */
  readonly enqueuedAt: number;
}

export type SlotAdmission =
  | { readonly type: 'run' }
  | { readonly type: 'queued'; readonly ticket: Ticket }
  | { readonly type: 'full' };

export class ReplicaSlots {
  private running = 0;
  private nextTicket = 1;
  // Map keeps insertion order (FIFO) and removes a cancelled ticket in O(1).
  private readonly waiting = new Map<Ticket, QueuedTicket>();

  constructor(readonly concurrency: number, readonly queueCap: number) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError(`'concurrency' must be a positive integer, got ${concurrency}`);
    if (!Number.isSafeInteger(queueCap) || queueCap < 0) throw new InvalidArgumentError(`'queueCap' must be a non-negative integer, got ${queueCap}`);
  }

  static fromConfig(config: Pick<DispatchConfig, 'concurrency' | 'queue'>): ReplicaSlots {
    return new ReplicaSlots(config.concurrency, config.queue);
  }

  get inFlight(): number { return this.running; }
  get queued(): number { return this.waiting.size; }

  /** Takes a slot, or a place in the queue, or neither. */
  acquire(now: number): SlotAdmission {
    if (this.running < this.concurrency) {
      this.running++;
      return { type: 'run' };
    }
    if (this.waiting.size >= this.queueCap) return { type: 'full' };
    const ticket = this.nextTicket++ as Ticket;
    this.waiting.set(ticket, { ticket, enqueuedAt: now });
    return { type: 'queued', ticket };
  }

  /**
   * A running call finished. Its slot passes to the oldest queued ticket, which is returned: the
   * caller starts that call now (and releases it later). Undefined when nobody was waiting.
   */
  release(): QueuedTicket | undefined {
    if (this.running === 0) throw new InvalidArgumentError('release() without a running call');
    const next = this.waiting.values().next();
    if (next.done) {
      this.running--;
      return undefined;
    }
    this.waiting.delete(next.value.ticket);
    return next.value;
  }

  /**
   * Removes a queued ticket whose client left. False when it is not queued (any more): if it was
   * already handed a slot by release(), that call is running and must be released in turn.
   */
  cancel(ticket: Ticket): boolean {
    return this.waiting.delete(ticket);
  }
}

// One upstream replica as the dispatcher sees it: its undici pool, its breaker, its concurrency slots
// and bounded queue, and the counts shown by metrics and the admin API.
//
// A slot is held from the moment a call starts until its reply body closes (read to the end, dumped
// or destroyed), not just until the response head: a streaming reply still occupies one of the pool's
// `concurrency` connections, and releasing early would let undici queue calls out of our sight.
import type { Clock } from '../../clock.ts';
import { ShuttingDownError } from '../../errors.ts';
import type { ReplicaLoad, Ticket } from '../../dispatch/index.ts';
import { ReplicaSlots } from '../../dispatch/index.ts';
import { ReplicaClient } from '../../proxy/upstream-client.ts';
import { createBreaker } from '../../machines/breaker-actor.ts';
import type { Breaker, BreakerTransition } from '../../machines/breaker-actor.ts';
import type { BreakerConfig } from '../../machines/circuit-breaker.ts';

/** The few calls the dispatcher makes on a replica's transport; ReplicaClient by default. */
export type ReplicaTransport = Pick<ReplicaClient, 'call' | 'close'>;

export interface ReplicaOptions {
  /** The replica as configured (base URL, with any base path): its id in metrics, admin and affinity. */
  readonly id: string;
  readonly url: string;
  readonly concurrency: number;
  readonly queue: number;
  readonly timeoutMs: number;
  readonly breaker: BreakerConfig;
  readonly clock: Clock;
  readonly connect?: ((origin: string, o: { connections: number; timeoutMs: number }) => ReplicaTransport) | undefined;
  /** A live breaker taken over from the replica this one replaces (config reload); a new one otherwise. */
  readonly liveBreaker?: Breaker | undefined;
}

interface Waiter { readonly grant: () => void; readonly reject: (err: unknown) => void }

export class Replica {
  readonly id: string;
  readonly origin: string;
  /** Prefixed to every call's path: the replica URL's own path, without a trailing slash. */
  readonly basePath: string;
  readonly client: ReplicaTransport;
  readonly breaker: Breaker;
  readonly slots: ReplicaSlots;
  /** Calls started on this replica (every attempt, retries included). */
  calls = 0;
  /** Calls that counted as failures against its breaker. */
  errors = 0;
  transitions = 0;
  lastTransition: BreakerTransition | undefined;
  private readonly waiters = new Map<Ticket, Waiter>();
  private readonly unsubscribe: () => void;
  private breakerGiven = false;

  constructor(o: ReplicaOptions) {
    const url = new URL(o.url);
    this.id = o.id;
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    const poolOptions = { connections: o.concurrency, timeoutMs: o.timeoutMs };
    this.client = o.connect ? o.connect(this.origin, poolOptions) : new ReplicaClient(this.origin, poolOptions);
    this.breaker = o.liveBreaker ?? createBreaker({ config: o.breaker, clock: o.clock });
    this.slots = new ReplicaSlots(o.concurrency, o.queue);
    this.unsubscribe = this.breaker.subscribe((t) => { this.transitions++; this.lastTransition = t; });
  }

  /**
   * Hands the live breaker to the replica replacing this one: this replica stops listening to it and
   * will not stop it on close, while its own calls still in flight keep reporting their results to it.
   */
  giveBreaker(): Breaker {
    this.breakerGiven = true;
    this.unsubscribe();
    return this.breaker;
  }

  /** What selection compares. `available` asks the breaker, which catches up with a due timer first. */
  load(): ReplicaLoad {
    return {
      id: this.id, inFlight: this.slots.inFlight, queued: this.slots.queued,
      concurrency: this.slots.concurrency, queueCap: this.slots.queueCap, available: this.breaker.retryAfterMs() === 0,
    };
  }

  /**
   * A slot to run one call: 'run' at once, or after waiting in the replica's FIFO queue (a promise),
   * or 'full' when the queue is too. The wait ends early, rejected with the signal's reason, when
   * `signal` aborts.
   */
  acquireSlot(now: number, signal: AbortSignal): 'full' | 'run' | Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const a = this.slots.acquire(now);
    if (a.type === 'full') return 'full';
    if (a.type === 'run') return 'run';
    const ticket = a.ticket;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        // False: release() already handed this ticket a slot; the caller sees the abort and releases it.
        if (this.slots.cancel(ticket)) { this.waiters.delete(ticket); reject(signal.reason); }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(ticket, {
        grant: () => { signal.removeEventListener('abort', onAbort); resolve(); },
        reject: (err) => { signal.removeEventListener('abort', onAbort); reject(err); },
      });
    });
  }

  /** A running call is done with its slot; the oldest queued call, if any, starts on it. */
  releaseSlot(): void {
    const next = this.slots.release();
    if (!next) return;
    const w = this.waiters.get(next.ticket);
    this.waiters.delete(next.ticket);
    w?.grant();
  }

  describe(now: number): Record<string, unknown> {
    return {
      replica: this.id,
      breaker: this.breaker.state,
      retryAfterMs: this.breaker.retryAfterMs(),
      inFlight: this.slots.inFlight,
      queued: this.slots.queued,
      concurrency: this.slots.concurrency,
      queueCap: this.slots.queueCap,
      calls: this.calls,
      errors: this.errors,
      transitions: this.transitions,
      lastTransition: this.lastTransition ? { ...this.lastTransition, agoMs: now - this.lastTransition.at } : null,
    };
  }

  /** Refuses the queued calls (503), stops the breaker and closes the pool once its calls finish. */
  async close(): Promise<void> {
    for (const [ticket, w] of this.waiters) {
      this.slots.cancel(ticket);
      w.reject(new ShuttingDownError());
    }
    this.waiters.clear();
    if (!this.breakerGiven) this.breaker.stop();
    await this.client.close();
  }
}

// The dispatcher of one target: sends each upstream call to a replica and guards the replicas.
// Picks the least-loaded replica (in flight + queued; two random choices above four replicas) whose
// breaker admits calls, keeps a session on its replica while that replica is healthy, caps each
// replica's concurrency with a bounded queue (full → 503 at once), and retries what is safe to retry
// with backoff, a budget, and on another replica when there is one. The decisions are the pure
// modules of src/dispatch and the breaker machine; this file wires them to undici and the clock.
// docs/dispatch.md has the reasoning.
import type { Clock } from '../clock.ts';
import type { TargetConfig } from '../config/schema.ts';
import { BreakerOpenError, QueueFullError, ShuttingDownError, UpstreamTimeoutError } from '../errors.ts';
import {
  AffinityTable, affinityKey, classifyOutcome, createRetryBudget, planRetry, recordCall, retriesLeft,
  RETRYABLE_STATUSES, selectReplica, tryWithdraw,
} from '../dispatch/index.ts';
import type { GiveUpReason, ReplicaLoad, RequestHeaders, RetryBudget, RetryBudgetConfig, SelectOptions } from '../dispatch/index.ts';
import type { UpstreamCall, UpstreamReply } from '../proxy/upstream-client.ts';
import type { Breaker, BreakerPermit } from '../machines/breaker-actor.ts';
import type { NodeMetrics } from '../metrics.ts';
import { CallGuard } from './dispatch/call-guard.ts';
import { DispatchMetrics } from './dispatch/dispatch-metrics.ts';
import type { RefusalReason, ReplicaErrorKind, ReplicaView } from './dispatch/dispatch-metrics.ts';
import { Replica } from './dispatch/replica.ts';
import type { ReplicaTransport } from './dispatch/replica.ts';
import type { Dispatch, DispatchOptions, DispatchResult } from './replica-set.ts';

/** Chooses among the replicas' loads; selectReplica by default (the bench swaps in round robin). */
export type ReplicaSelector = (replicas: readonly ReplicaLoad[], options: SelectOptions) => ReplicaLoad | undefined;

/** Each step of a call, for tests and logs. `at` is the clock's epoch ms. */
export type DispatchEvent =
  | { readonly type: 'attempt.started'; readonly replica: string; readonly attempt: number; readonly at: number }
  | { readonly type: 'attempt.finished'; readonly replica: string; readonly attempt: number; readonly at: number;
      readonly outcome: 'success' | 'failure' | 'aborted'; readonly status?: number | undefined }
  | { readonly type: 'retry.scheduled'; readonly replica: string; readonly attempt: number; readonly delayMs: number; readonly at: number }
  | { readonly type: 'retry.skipped'; readonly replica: string; readonly attempt: number; readonly at: number;
      readonly reason: GiveUpReason | 'not-repeatable' | 'budget' }
  | { readonly type: 'call.refused'; readonly reason: RefusalReason; readonly at: number };

export interface DispatcherDeps {
  readonly clock: Clock;
  /** In [0, 1), like Math.random: ties, two choices and jitter. */
  readonly random: () => number;
  readonly metrics: NodeMetrics;
  readonly log?: ((line: string, fields?: Record<string, unknown>) => void) | undefined;
  readonly select?: ReplicaSelector | undefined;
  /** Budget settings beyond `retry.budget`: its window and the reserve of retries per second. */
  readonly retryBudget?: Omit<Partial<RetryBudgetConfig>, 'ratio'> | undefined;
  readonly onEvent?: ((e: DispatchEvent) => void) | undefined;
  /** Builds one replica's transport; an undici pool (ReplicaClient) by default. */
  readonly connect?: ((origin: string, o: { connections: number; timeoutMs: number }) => ReplicaTransport) | undefined;
  /** Live breakers taken over from the dispatcher this one replaces, by replica id (src/reload). */
  readonly breakers?: ReadonlyMap<string, Breaker> | undefined;
}

/** The session key of a request under the target's `dispatch.affinity`, or undefined. */
export function affinityKeyOf(target: Pick<TargetConfig, 'dispatch'>, headers: RequestHeaders): string | undefined {
  const a = target.dispatch.affinity;
  return a ? affinityKey(headers, a) : undefined;
}

/** The empty exclusion set of a first try. */
const NONE: ReadonlySet<string> = new Set();

type Attempt =
  /** The replica turned the call away before sending it (breaker opened while it was queued). */
  | { readonly type: 'refused' }
  | { readonly type: 'answered'; readonly reply: UpstreamReply; readonly ok: boolean }
  | { readonly type: 'failed'; readonly error: unknown };

export class Dispatcher implements Dispatch {
  private readonly replicas: readonly Replica[];
  private readonly byId = new Map<string, Replica>();
  private readonly affinity: AffinityTable | undefined;
  private budget: RetryBudget;
  private readonly failOn429: boolean;
  private readonly select: ReplicaSelector;
  private readonly m: DispatchMetrics;
  private readonly unwatch: () => void;
  private readonly unsubscribe = new Map<string, () => void>();
  private closed = false;

  constructor(readonly target: TargetConfig, private readonly deps: DispatcherDeps) {
    const { failOn429, ...breaker } = target.breaker;
    this.failOn429 = failOn429;
    this.select = deps.select ?? selectReplica;
    this.m = DispatchMetrics.for(deps.metrics);
    this.replicas = target.replicas.map((url, i) => {
      // The same URL listed twice is two replicas (twice the share); they need distinct ids.
      const id = this.byId.has(url) ? `${url}#${i}` : url;
      const r = new Replica({
        id, url, concurrency: target.dispatch.concurrency, queue: target.dispatch.queue, timeoutMs: target.timeoutMs,
        breaker, clock: deps.clock, connect: deps.connect, liveBreaker: deps.breakers?.get(id),
      });
      this.unsubscribe.set(id, r.breaker.subscribe((t) => {
        this.m.transitions.inc({ target: target.name, replica: id, from: t.from, to: t.to, reason: t.reason });
        deps.log?.('breaker', { target: target.name, replica: id, from: t.from, to: t.to, reason: t.reason });
      }));
      this.byId.set(id, r);
      return r;
    });
    const a = target.dispatch.affinity;
    this.affinity = a && (a.header !== undefined || a.cookie !== undefined) ? new AffinityTable(a.ttlMs) : undefined;
    this.budget = createRetryBudget({ ...deps.retryBudget, ratio: target.retry.budget });
    this.unwatch = this.m.watch({ views: () => this.views() });
  }

  async call(c: UpstreamCall, o: DispatchOptions): Promise<DispatchResult> {
    if (this.closed) throw new ShuttingDownError();
    const { clock } = this.deps;
    const startedAt = clock.now();
    const guard = new CallGuard(clock, c.signal, startedAt + this.target.timeoutMs, this.target.timeoutMs, this.target.name);
    this.budget = recordCall(this.budget, startedAt);
    // A streamed body is consumed by the first try; only a buffered one can be sent again.
    const repeatable = o.idempotent && (c.body === undefined || Buffer.isBuffer(c.body));
    // Most calls make one try: the sets of replicas to avoid are made only when a try fails.
    let tried: Set<string> | undefined;
    let refused: Set<string> | undefined;
    let attempt = 1;
    try {
      for (;;) {
        if (this.closed) throw new ShuttingDownError();
        const r = this.choose(o.affinityKey, tried ?? NONE, refused ?? NONE);
        const result = await this.attempt(r, c, guard, attempt);
        if (result.type === 'refused') { (refused ??= new Set()).add(r.id); continue; }
        const key = o.affinityKey;
        if (result.type === 'answered' && !RETRYABLE_STATUSES.has(result.reply.status)) {
          this.bind(key, r, result.ok);
          return { reply: result.reply, replica: r.id };
        }
        const delayMs = this.retryDelay(r, c, result, repeatable, attempt, startedAt, guard.deadlineAt);
        if (delayMs === undefined) {
          this.bind(key, r, result.type === 'answered' && result.ok);
          if (result.type === 'answered') return { reply: result.reply, replica: r.id };
          throw result.error;
        }
        if (result.type === 'answered') discard(result.reply);
        this.bind(key, r, false);
        try { await guard.wait(delayMs); } catch (err) { throw this.abortError(guard, err); }
        (tried ??= new Set()).add(r.id);
        attempt++;
      }
    } finally {
      guard.settle();
    }
  }

  /** Live state of each replica, for `GET /_sluice/targets/<name>` and the dashboard. */
  describe(): unknown {
    const now = this.deps.clock.now();
    const a = this.target.dispatch.affinity;
    return {
      replicas: this.replicas.map((r) => r.describe(now)),
      affinity: this.affinity && a ? { header: a.header ?? null, cookie: a.cookie ?? null, ttlMs: a.ttlMs, sessions: this.affinity.size } : null,
      retryBudget: { ratio: this.budget.ratio, retriesLeft: retriesLeft(this.budget, now) },
    };
  }

  /** Gives the live breakers of `ids` to the dispatcher replacing this one (see Replica.giveBreaker). */
  giveBreakers(ids: readonly string[]): Map<string, Breaker> {
    const out = new Map<string, Breaker>();
    for (const id of ids) {
      const r = this.byId.get(id);
      if (!r) continue;
      this.unsubscribe.get(id)?.();
      out.set(id, r.giveBreaker());
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    await Promise.all(this.replicas.map((r) => r.close()));
  }

  /**
   * The replica for the next try: the session's while it can take calls, else by load, avoiding the
   * replicas this call already failed on when another can take it. Throws the 503 when none can.
   */
  private choose(key: string | undefined, tried: ReadonlySet<string>, refused: ReadonlySet<string>): Replica {
    const now = this.deps.clock.now();
    const bound = key !== undefined ? this.affinity?.get(key, now) : undefined;
    const loads = this.replicas.map((r) => r.load());
    const random = this.deps.random;
    const chosen = (tried.size > 0 ? this.select(loads, { random, affinityReplica: bound, exclude: new Set([...tried, ...refused]) }) : undefined)
      ?? this.select(loads, { random, affinityReplica: bound, exclude: refused });
    if (chosen) return this.byId.get(chosen.id)!;
    if (!loads.some((l) => l.available)) {
      this.refuse('breaker_open', now);
      const waits = this.replicas.map((r) => r.breaker.retryAfterMs()).filter((ms) => ms > 0);
      throw new BreakerOpenError(this.target.name, waits.length > 0 ? Math.max(1, Math.min(...waits)) : 1);
    }
    this.refuse('queue_full', now);
    throw new QueueFullError(this.target.name);
  }

  private refuse(reason: RefusalReason, at: number): void {
    this.m.refused.inc({ target: this.target.name, reason });
    this.deps.onEvent?.({ type: 'call.refused', reason, at });
  }

  /** One try on `r`: a slot (maybe after queueing), a breaker permit, the call, its outcome reported. */
  private async attempt(r: Replica, c: UpstreamCall, guard: CallGuard, attempt: number): Promise<Attempt> {
    const { clock } = this.deps;
    const slot = r.acquireSlot(clock.now(), guard.signal);
    if (slot === 'full') return { type: 'refused' };
    if (slot !== 'run') {
      try {
        await slot;
      } catch (err) {
        throw this.abortError(guard, err);
      }
    }
    if (guard.signal.aborted) {
      r.releaseSlot();
      throw this.abortError(guard, guard.signal.reason);
    }
    // The permit is taken when the call can start, not when it queued: a call that waited while its
    // replica's breaker opened is turned away here (and tries another) instead of reaching it.
    const admission = r.breaker.acquire();
    if (!admission.admitted) {
      r.releaseSlot();
      return { type: 'refused' };
    }
    const began = clock.now();
    r.calls++;
    this.deps.onEvent?.({ type: 'attempt.started', replica: r.id, attempt, at: began });
    let reply: UpstreamReply;
    try {
      reply = await r.client.call({ method: c.method, path: r.basePath + c.path, headers: c.headers, body: c.body, signal: guard.signal });
    } catch (err) {
      r.releaseSlot();
      if (guard.callerGone) {
        this.finished(r, attempt, 'aborted', undefined, began);
        throw err;
      }
      const error = guard.timedOut ? new UpstreamTimeoutError(r.origin, this.target.timeoutMs) : err;
      this.report(r, false, began, admission.permit, kindOf(error));
      this.finished(r, attempt, 'failure', undefined, began);
      return { type: 'failed', error };
    }
    releaseWhenClosed(reply, r);
    const ok = classifyOutcome({ status: reply.status }, { failOn429: this.failOn429 }) === 'success';
    this.report(r, ok, began, admission.permit, 'status');
    this.finished(r, attempt, ok ? 'success' : 'failure', reply.status, began);
    return { type: 'answered', reply, ok };
  }

  private report(r: Replica, ok: boolean, began: number, permit: BreakerPermit, kind: ReplicaErrorKind): void {
    r.breaker.onResult(ok, this.deps.clock.now() - began, permit);
    if (ok) return;
    r.errors++;
    this.m.errors.inc({ target: this.target.name, replica: r.id, kind });
  }

  private finished(r: Replica, attempt: number, outcome: 'success' | 'failure' | 'aborted', status: number | undefined, began: number): void {
    const now = this.deps.clock.now();
    const label = status !== undefined ? `${Math.floor(status / 100)}xx` : outcome === 'aborted' ? 'aborted' : 'error';
    this.deps.metrics.upstreamCalls.inc({ target: this.target.name, replica: r.id, outcome: label });
    if (status !== undefined) this.deps.metrics.upstreamDuration.observe({ target: this.target.name }, (now - began) / 1000);
    this.deps.onEvent?.({ type: 'attempt.finished', replica: r.id, attempt, at: now, outcome, status });
  }

  /** Ms to wait before trying again, or undefined to give this result to the caller. */
  private retryDelay(r: Replica, c: UpstreamCall, result: Exclude<Attempt, { type: 'refused' }>, repeatable: boolean,
    attempt: number, startedAt: number, deadlineAt: number): number | undefined {
    const now = this.deps.clock.now();
    const skip = (reason: GiveUpReason | 'not-repeatable' | 'budget'): undefined => {
      this.deps.onEvent?.({ type: 'retry.skipped', replica: r.id, attempt, at: now, reason });
      return undefined;
    };
    if (!repeatable) return skip('not-repeatable');
    const plan = planRetry({
      method: c.method, idempotentBatch: true, attemptsMade: attempt, startedAt, now, deadlineAt,
      ...(result.type === 'answered' ? { status: result.reply.status, retryAfter: result.reply.headers['retry-after'] } : { error: result.error }),
    }, this.target.retry, this.deps.random);
    if (plan.type === 'give-up') return skip(plan.reason);
    const w = tryWithdraw(this.budget, now);
    if (!w.ok) {
      this.m.retries.inc({ target: this.target.name, outcome: 'budget_exhausted' });
      return skip('budget');
    }
    this.budget = w.next;
    this.m.retries.inc({ target: this.target.name, outcome: 'scheduled' });
    this.deps.onEvent?.({ type: 'retry.scheduled', replica: r.id, attempt: attempt + 1, delayMs: plan.delayMs, at: now });
    return plan.delayMs;
  }

  /** Keeps the session on a replica that answered well; lets it move away from one that failed. */
  private bind(key: string | undefined, r: Replica, ok: boolean): void {
    if (key === undefined || !this.affinity) return;
    const now = this.deps.clock.now();
    if (ok) this.affinity.set(key, r.id, now);
    else if (this.affinity.get(key, now) === r.id) this.affinity.delete(key);
  }

  /** What to throw when a wait was cut short: a 504 at the deadline, else the caller's own abort. */
  private abortError(guard: CallGuard, err: unknown): unknown {
    return guard.timedOut ? guard.timeoutError() : err;
  }

  private views(): ReplicaView[] {
    return this.replicas.map((r) => ({
      target: this.target.name, replica: r.id, inFlight: r.slots.inFlight, queued: r.slots.queued,
      concurrency: r.slots.concurrency, queueCap: r.slots.queueCap, state: r.breaker.state,
    }));
  }
}

const kindOf = (error: unknown): ReplicaErrorKind => (error instanceof UpstreamTimeoutError ? 'timeout' : 'unreachable');

/** The slot is the reply's until its body closes: read to the end, dumped, destroyed or failed ('close' follows an error). */
function releaseWhenClosed(reply: UpstreamReply, r: Replica): void {
  // Bodies auto-destroy, so 'close' follows 'end', an error, dump() and destroy() alike: one listener.
  reply.body.once('close', () => r.releaseSlot());
}

/**
 * Drops a reply we retry away from without leaking its socket: undici's dump() reads a small body so
 * the connection stays reusable, and destroys the stream past its limit; anything else is destroyed.
 */
function discard(reply: UpstreamReply): void {
  const body = reply.body as UpstreamReply['body'] & { dump?: (o?: { limit?: number }) => Promise<void> };
  if (typeof body.dump === 'function') body.dump({ limit: 64 * 1024 }).catch(() => body.destroy());
  else body.destroy();
}

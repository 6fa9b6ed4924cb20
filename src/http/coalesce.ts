// Mode `coalesce`, the HTTP side: a request becomes a waiter in the slot of its coalesce key — the
// call already in flight for that key when there is one (join in flight), else a new one — and is
// answered exactly once by whichever comes first: the shared reply (pushed the moment its head
// arrives; a joiner mid-body gets the body from its first byte), the slot's failure, its own
// deadline (`maxClientWaitMs`, 504) or its client leaving. Keys whose replies turned out private pass
// through on their own for a while (see coalesce-batch.ts). A response cache answers before this
// (src/http/cache-front.ts).
//
// One waiter is one object with methods rather than a nest of closures: a burst of a thousand
// requests is read in a handful of event-loop turns, and every allocation on this path shows.
import type { IncomingHttpHeaders } from 'node:http';
import { coalesceKey } from '../batch/index.ts';
import type { BatchKey, HeaderBag } from '../batch/index.ts';
import { ClientDeadlineError } from '../errors.ts';
import { batchHeaderValue, type WaiterTicket } from '../actors/batch-registry.ts';
import { WaiterOutcome } from '../actors/batching/batch-metrics.ts';
import { BodyTee, type TeeListener } from '../actors/batching/body-tee.ts';
import { isIdempotent, type CoalesceAnswer, type CoalesceDeps, type CoalesceWaiter } from '../actors/batching/coalesce-batch.ts';
import { endAfterFailure, OnceAdmission } from '../actors/batching/once-admission.ts';
import { UsageWatch } from '../actors/batching/usage-watch.ts';
import { WaiterGuard, type WaiterGuardHandlers } from '../actors/batching/waiter-guard.ts';
import type { TargetRuntime, UpstreamCallResult } from '../actors/target-runtime.ts';
import { estimateTokens } from '../limit/tokens.ts';
import { hasBody, readBody } from './body.ts';
import { headerValue, upstreamRequestHeaders } from '../proxy/headers.ts';
import { sendProblem } from './problem.ts';
import { drain, writeHead } from './reply.ts';
import { noteCall, type RequestContext } from '../proxy/request-context.ts';

export type { CoalesceDeps };

export async function coalesce(ctx: RequestContext, target: TargetRuntime, deps: CoalesceDeps): Promise<void> {
  const { req } = ctx;
  const { config } = target;
  // A body is part of the key (two requests are identical only byte for byte), so it is read first.
  const body = hasBody(req) ? await readBody(req, config.maxBodyBytes).catch((err: unknown) => {
    if (ctx.clientGone.aborted) return null; // gone mid-body: nobody to answer
    throw err;
  }) : undefined;
  if (body === null) return;
  const key: BatchKey = coalesceKey(
    { method: ctx.method, path: ctx.path, query: ctx.query, headers: keyHeaders(req.headers, deps.keyHeaders), ...(body ? { body } : {}) },
    { vary: config.vary, public: config.public },
  );
  const admitted = target.admitRequest(ctx, body);
  const client = new OnceAdmission(admitted instanceof Promise ? await admitted : admitted); // no await hop when nothing waits
  if (ctx.clientGone.aborted) { client.cancel(); return; }
  const waiter = new Waiter(ctx, body, target, deps, client);
  if (deps.registry.isUncoalesced(key)) waiter.goAlone();
  else waiter.ticket = deps.registry.join(key, waiter, ctx.requestId);
}

/** Only the headers the key reads: the key function then indexes a handful of headers, not all of them. */
function keyHeaders(all: IncomingHttpHeaders, names: readonly string[]): HeaderBag {
  const out: Record<string, string | string[] | undefined> = {};
  for (const n of names) if (all[n] !== undefined) out[n] = all[n];
  return out;
}

const hasAny = (o: Record<string, string>): boolean => { for (const _ in o) return true; return false; };

class Waiter implements CoalesceWaiter, WaiterGuardHandlers, TeeListener {
  ticket: WaiterTicket | undefined;
  private ownCall = false;
  private readonly guard: WaiterGuard;
  private usage: (() => number | undefined) | undefined;

  constructor(
    readonly ctx: RequestContext,
    readonly body: Buffer | undefined,
    private readonly target: TargetRuntime,
    private readonly deps: CoalesceDeps,
    private readonly client: OnceAdmission,
  ) {
    this.guard = new WaiterGuard(ctx, deps.clock, target.config.batch.maxClientWaitMs, this);
  }

  /** The batch's answer: the shared reply, the slot's failure, or "go upstream on your own". */
  answer(a: CoalesceAnswer): void {
    if (a.kind === 'alone') { this.goAlone(); return; } // the guard stays armed over the individual call
    if (!this.guard.claim()) return;
    const own = this.ownHeaders();
    if (a.kind === 'failed') {
      sendProblem(this.ctx.res, a.error, this.instance(), Object.assign(own, { 'x-sluice-batch': batchHeaderValue(a.slot) }));
      endAfterFailure(this.client, a.error);
      this.deps.count(WaiterOutcome.Failed);
      return;
    }
    this.ctx.res.writeHead(a.status, hasAny(own) ? Object.assign({}, a.headers, own) : a.headers);
    this.usage = a.usage;
    a.tee.attach(this.ctx.res, this);
    this.deps.count(WaiterOutcome.Replied);
  }

  /** The shared body reached this client in full, or stopped: the call was made for it either way. */
  bodyDone(): void {
    this.client.settle({ tokens: this.usage?.() });
  }

  deadline(): void {
    const ms = this.target.config.batch.maxClientWaitMs;
    sendProblem(this.ctx.res, new ClientDeadlineError(ms), this.instance(), this.ownHeaders());
    this.endUnanswered();
    this.deps.count(WaiterOutcome.Deadline);
  }

  gone(): void {
    this.endUnanswered();
    this.deps.count(WaiterOutcome.Left);
  }

  goAlone(): void {
    if (this.guard.answered) return;
    this.ownCall = true;
    void this.callAlone();
  }

  private endUnanswered(): void {
    this.ticket?.leave();
    if (this.ticket?.inCall || this.ownCall) this.client.settle({}); else this.client.cancel();
  }

  /**
   * A fresh object each time (callers add to it). Object.assign, not spread: on this path V8's
   * spread of one object into another took microseconds each (see hot-path note in coalesce-batch.ts).
   */
  private ownHeaders(): Record<string, string> {
    return Object.assign({}, this.ctx.answerHeaders, this.client.headers);
  }

  private instance(): string { return (this.ctx.req.url ?? '/').split('?')[0]!; }

  /**
   * This waiter's own upstream call (its key passes through, or a private reply went to another
   * waiter). Its deadline and disconnect still hold: either aborts the call through `guard.signal`.
   */
  private async callAlone(): Promise<void> {
    const { ctx, target, body, guard, client } = this;
    const signal = guard.signal;
    const tokens = target.limits.countsTokens ? estimateTokens({ headers: ctx.req.headers, body: body ?? '' }) : 0;
    let result: UpstreamCallResult;
    try {
      result = await target.callUpstream(
        { method: ctx.method, path: ctx.upstreamPath, headers: upstreamRequestHeaders(ctx.req, ctx.requestId), body, signal },
        { idempotent: isIdempotent(ctx.method), cost: { requests: 1, tokens }, signal },
      );
    } catch (err) {
      if (!guard.claim()) return; // the deadline or the client's leaving already ended it
      this.deps.count(WaiterOutcome.Alone);
      endAfterFailure(client, err);
      sendProblem(ctx.res, err, this.instance(), this.ownHeaders());
      return;
    }
    const { reply, admission } = result;
    noteCall(ctx.access, result);
    delete ctx.access.batchId; // its own call, answered without X-Sluice-Batch
    delete ctx.access.batchSize;
    if (!guard.claim()) { drain(reply.body); admission.settle({}); return; }
    this.deps.count(WaiterOutcome.Alone);
    const watch = target.limits.countsTokens ? new UsageWatch(headerValue(reply.headers, 'content-type')) : undefined;
    writeHead(ctx.res, reply.status, reply.headers, Object.assign(this.ownHeaders(), admission.headers));
    const tee = new BodyTee(reply.body, {
      ...(watch ? { onChunk: (c: Buffer) => watch.push(c) } : {}),
      onEnd: () => admission.settle({ tokens: watch?.total() }),
    });
    this.usage = () => watch?.total();
    tee.attach(ctx.res, this);
    tee.start();
  }
}

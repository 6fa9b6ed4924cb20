// Mode `coalesce`, the HTTP side: a request becomes a waiter in the slot of its coalesce key, and is
// answered exactly once by whichever comes first — the shared reply (pushed the moment it arrives),
// the slot's failure, its own deadline (`maxClientWaitMs`, 504) or its client leaving. Keys whose
// replies turned out private pass through on their own for a while (see coalesce-batch.ts).
import { coalesceKey } from '../batch/index.ts';
import type { BatchKey } from '../batch/index.ts';
import { ClientDeadlineError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { BatchRegistry, WaiterTicket } from '../actors/batch-registry.ts';
import { WaiterOutcome, type BatchMetrics } from '../actors/batching/batch-metrics.ts';
import { BodyTee } from '../actors/batching/body-tee.ts';
import { isIdempotent, type CoalesceAnswer, type CoalesceWaiter } from '../actors/batching/coalesce-batch.ts';
import { endAfterFailure, once } from '../actors/batching/once-admission.ts';
import { UsageWatch } from '../actors/batching/usage-watch.ts';
import { WaiterGuard } from '../actors/batching/waiter-guard.ts';
import type { Admission } from '../actors/target-parts.ts';
import type { TargetRuntime, UpstreamCallResult } from '../actors/target-runtime.ts';
import { hasBody, readBody } from './body.ts';
import { headerValue, upstreamRequestHeaders } from './headers.ts';
import { sendProblem } from './problem.ts';
import { drain, writeHead } from './reply.ts';
import type { RequestContext } from './request-context.ts';
import { estimateTokens } from '../limit/tokens.ts';

export interface CoalesceDeps {
  readonly registry: BatchRegistry<CoalesceWaiter, UpstreamCallResult>;
  readonly metrics: BatchMetrics;
  readonly clock: Clock;
}

export const batchHeader = (slotId: string, size: number): string => `${slotId}; size=${size}`;

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
    { method: ctx.method, path: ctx.path, query: ctx.query, headers: req.headers, ...(body ? { body } : {}) },
    { vary: config.vary, public: config.public },
  );
  const client = once(await target.admitRequest(ctx, body));
  if (ctx.clientGone.aborted) { client.cancel(); return; }
  const count = (outcome: WaiterOutcome): void => deps.metrics.answered.inc({ target: target.name, mode: 'coalesce', outcome });
  const instance = (req.url ?? '/').split('?')[0]!;
  const headers = (): Record<string, string> => ({ ...ctx.answerHeaders, ...client.headers });

  let ticket: WaiterTicket | undefined;
  let ownCall = false;
  const endUnanswered = (): void => {
    ticket?.leave();
    if (ticket?.inCall || ownCall) client.settle({}); else client.cancel();
  };
  const guard = new WaiterGuard(ctx, deps.clock, config.batch.maxClientWaitMs, {
    deadline: () => {
      sendProblem(ctx.res, new ClientDeadlineError(config.batch.maxClientWaitMs), instance, headers());
      endUnanswered();
      count(WaiterOutcome.Deadline);
    },
    gone: () => { endUnanswered(); count(WaiterOutcome.Left); },
  });

  const alone = (): void => {
    if (guard.answered) return;
    ownCall = true;
    void callAlone(ctx, target, { client, body, guard, instance, headers, answered: () => count(WaiterOutcome.Alone) });
  };
  if (deps.registry.isUncoalesced(key)) { alone(); return; }

  const answer = (a: CoalesceAnswer): void => {
    if (a.kind === 'alone') { alone(); return; } // the guard stays armed over the individual call
    if (!guard.claim()) return;
    const batch = { 'x-sluice-batch': batchHeader(a.slot.slotId, a.slot.size) };
    if (a.kind === 'failed') {
      sendProblem(ctx.res, a.error, instance, { ...headers(), ...batch });
      endAfterFailure(client, a.error);
      count(WaiterOutcome.Failed);
      return;
    }
    writeHead(ctx.res, a.status, a.headers, { ...headers(), ...a.upstreamHeaders, ...batch });
    a.tee.attach(ctx.res, () => client.settle({ tokens: a.usage() }));
    count(WaiterOutcome.Replied);
  };
  ticket = deps.registry.join(key, { ctx, body, answer }, ctx.requestId);
}

interface AloneOptions {
  readonly client: Admission;
  readonly body: Buffer | undefined;
  readonly guard: WaiterGuard;
  readonly instance: string;
  readonly headers: () => Record<string, string>;
  readonly answered: () => void;
}

/**
 * One waiter's own upstream call (its key passes through, or a private reply went to another waiter).
 * Its deadline and disconnect still hold: either aborts the call through `guard.signal`.
 */
async function callAlone(ctx: RequestContext, target: TargetRuntime, o: AloneOptions): Promise<void> {
  const { req, res } = ctx;
  const signal = o.guard.signal;
  const tokens = target.limits.countsTokens ? estimateTokens({ headers: req.headers, body: o.body ?? '' }) : 0;
  let result: UpstreamCallResult;
  try {
    result = await target.callUpstream(
      { method: ctx.method, path: ctx.upstreamPath, headers: upstreamRequestHeaders(req, ctx.requestId), body: o.body, signal },
      { idempotent: isIdempotent(ctx.method), cost: { requests: 1, tokens }, signal },
    );
  } catch (err) {
    if (!o.guard.claim()) return; // the deadline or the client's leaving already ended it
    o.answered();
    endAfterFailure(o.client, err);
    sendProblem(res, err, o.instance, o.headers());
    return;
  }
  const { reply, admission } = result;
  if (!o.guard.claim()) { drain(reply.body); admission.settle({}); return; }
  o.answered();
  const watch = target.limits.countsTokens ? new UsageWatch(headerValue(reply.headers, 'content-type')) : undefined;
  writeHead(res, reply.status, reply.headers, { ...o.headers(), ...admission.headers });
  const tee = new BodyTee(reply.body, watch ? { onChunk: (c) => watch.push(c) } : {});
  tee.attach(res, () => {
    const usage = { tokens: watch?.total() };
    admission.settle(usage);
    o.client.settle(usage);
  });
  tee.start();
}

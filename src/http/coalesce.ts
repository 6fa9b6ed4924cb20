// Mode `coalesce`, the HTTP side: a request becomes a waiter in the slot of its coalesce key, and is
// answered exactly once by whichever comes first — the shared reply (pushed the moment it arrives),
// the slot's failure, its own deadline (`maxClientWaitMs`, 504) or its client leaving. Keys whose
// replies turned out private pass through on their own for a while (see coalesce-batch.ts).
import { coalesceKey } from '../batch/index.ts';
import type { BatchKey, HeaderBag } from '../batch/index.ts';
import type { IncomingHttpHeaders } from 'node:http';
import { ClientDeadlineError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { batchHeaderValue, type BatchRegistry, type WaiterTicket } from '../actors/batch-registry.ts';
import { WaiterOutcome } from '../actors/batching/batch-metrics.ts';
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
  /** Counts one answered waiter by outcome (BatchMetrics.answeredCounter). */
  readonly count: (outcome: WaiterOutcome) => void;
  readonly clock: Clock;
  /** The request headers the key reads (`vary`, and credentials unless public), lower case. */
  readonly keyHeaders: readonly string[];
}

/** Only the headers the key reads: the key function then indexes a handful of headers, not all of them. */
function keyHeaders(all: IncomingHttpHeaders, names: readonly string[]): HeaderBag {
  const out: Record<string, string | string[] | undefined> = {};
  for (const n of names) if (all[n] !== undefined) out[n] = all[n];
  return out;
}

const hasAny = (o: Record<string, string>): boolean => { for (const _ in o) return true; return false; };

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
  const client = once(await target.admitRequest(ctx, body));
  if (ctx.clientGone.aborted) { client.cancel(); return; }
  const count = deps.count;
  const instance = (): string => (req.url ?? '/').split('?')[0]!;
  const headers = (): Record<string, string> => ({ ...ctx.answerHeaders, ...client.headers });

  let ticket: WaiterTicket | undefined;
  let ownCall = false;
  const endUnanswered = (): void => {
    ticket?.leave();
    if (ticket?.inCall || ownCall) client.settle({}); else client.cancel();
  };
  const guard = new WaiterGuard(ctx, deps.clock, config.batch.maxClientWaitMs, {
    deadline: () => {
      sendProblem(ctx.res, new ClientDeadlineError(config.batch.maxClientWaitMs), instance(), headers());
      endUnanswered();
      count(WaiterOutcome.Deadline);
    },
    gone: () => { endUnanswered(); count(WaiterOutcome.Left); },
  });

  const alone = (): void => {
    if (guard.answered) return;
    ownCall = true;
    void callAlone(ctx, target, { client, body, guard, instance: instance(), headers, answered: () => count(WaiterOutcome.Alone) });
  };
  if (deps.registry.isUncoalesced(key)) { alone(); return; }

  const answer = (a: CoalesceAnswer): void => {
    if (a.kind === 'alone') { alone(); return; } // the guard stays armed over the individual call
    if (!guard.claim()) return;
    const own = headers();
    if (a.kind === 'failed') {
      sendProblem(ctx.res, a.error, instance(), { ...own, 'x-sluice-batch': batchHeaderValue(a.slot) });
      endAfterFailure(client, a.error);
      count(WaiterOutcome.Failed);
      return;
    }
    ctx.res.writeHead(a.status, hasAny(own) ? { ...a.headers, ...own } : a.headers);
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

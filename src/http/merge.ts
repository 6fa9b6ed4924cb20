// Mode `merge`, the HTTP side: a request's body becomes one item of the batch for its merge key
// (method, path, query, `vary` headers, credentials unless public). A body the strategy refuses is
// answered 400 on its own before it joins; otherwise the request waits for its share of the split
// reply, answered exactly once by that share, the batch's failure, its deadline or its leaving.
import { mergeKey } from '../batch/index.ts';
import type { ItemAnswer } from '../batch/index.ts';
import { ClientDeadlineError } from '../errors.ts';
import { batchHeaderValue, type WaiterTicket } from '../actors/batch-registry.ts';
import { WaiterOutcome } from '../actors/batching/batch-metrics.ts';
import type { MergeAnswer, MergeDeps } from '../actors/batching/merge-batch.ts';
import { endAfterFailure, once } from '../actors/batching/once-admission.ts';
import { WaiterGuard } from '../actors/batching/waiter-guard.ts';
import type { TargetRuntime } from '../actors/target-runtime.ts';
import { estimateTokens, usageFromJson } from '../limit/tokens.ts';
import { readBody } from './body.ts';
import { headerValue } from '../proxy/headers.ts';
import type { ServerResponse } from 'node:http';
import { sendProblem } from './problem.ts';
import type { RequestContext } from '../proxy/request-context.ts';

export type { MergeDeps };

export async function merge(ctx: RequestContext, target: TargetRuntime, deps: MergeDeps): Promise<void> {
  const { req, res } = ctx;
  const { config } = target;
  const strategy = await deps.strategy;
  const body = await readBody(req, config.maxBodyBytes).catch((err: unknown) => {
    if (ctx.clientGone.aborted) return undefined; // gone mid-body: nobody to answer
    throw err;
  });
  if (!body) return;
  const client = once(await target.admitRequest(ctx, body));
  if (ctx.clientGone.aborted) { client.cancel(); return; }
  const count = deps.count;
  const instance = (req.url ?? '/').split('?')[0]!;
  const headers = (): Record<string, string> => ({ ...ctx.answerHeaders, ...client.headers });
  const contentType = headerValue(req.headers, 'content-type');
  const item = { id: ctx.requestId, body, ...(contentType ? { contentType } : {}) };

  // A body the strategy cannot merge is this caller's mistake alone: 400 now, nothing joins.
  const refused = strategy.check?.(item);
  if (refused) {
    client.cancel();
    writeItem(res, refused, instance, headers());
    count(WaiterOutcome.Rejected);
    return;
  }

  const key = mergeKey({ method: ctx.method, path: ctx.path, query: ctx.query, headers: req.headers }, { vary: config.vary, public: config.public });
  let ticket: WaiterTicket | undefined;
  const endUnanswered = (): void => {
    ticket?.leave();
    if (ticket?.inCall) client.settle({}); else client.cancel();
  };
  const guard = new WaiterGuard(ctx, deps.clock, config.batch.maxClientWaitMs, {
    deadline: () => {
      sendProblem(res, new ClientDeadlineError(config.batch.maxClientWaitMs), instance, headers());
      endUnanswered();
      count(WaiterOutcome.Deadline);
    },
    gone: () => { endUnanswered(); count(WaiterOutcome.Left); },
  });

  const answer = (a: MergeAnswer): void => {
    if (!guard.claim()) return;
    const batch = { 'x-sluice-batch': batchHeaderValue(a.slot) };
    if (a.kind === 'failed') {
      sendProblem(res, a.error, instance, { ...headers(), ...batch });
      endAfterFailure(client, a.error);
      count(WaiterOutcome.Failed);
      return;
    }
    const rejected = a.answer.error !== undefined && a.answer.status === 400;
    if (rejected) client.cancel();
    else client.settle({ tokens: target.limits.countsTokens && !a.answer.error ? usageFromJson(a.answer.body) : undefined });
    writeItem(res, a.answer, instance, { ...headers(), ...a.upstreamHeaders, ...batch });
    count(rejected ? WaiterOutcome.Rejected : a.answer.error ? WaiterOutcome.Failed : WaiterOutcome.Replied);
  };
  const tokens = target.limits.countsTokens ? estimateTokens({ headers: req.headers, body }) : 0;
  ticket = deps.registry.join(key, { ctx, item, tokens, answer }, ctx.requestId);
}

/** One caller's share: problem details when it is a failure, else its status and bytes. */
function writeItem(res: ServerResponse, a: ItemAnswer, instance: string, headers: Record<string, string>): void {
  if (a.error) { sendProblem(res, a.error, instance, headers); return; }
  res.writeHead(a.status, { ...headers, 'content-type': a.contentType ?? 'application/octet-stream', 'content-length': a.body.length });
  res.end(a.body);
}

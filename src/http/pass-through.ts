// Mode `none`, and every method a target does not batch: one client request, one upstream call, bodies
// streamed both ways. The client going away aborts the upstream call.
import { pipeline } from 'node:stream';
import { anySignal, LightAbortController } from '../abort.ts';
import { BodyTooLargeError } from '../errors.ts';
import { mergeAnswerHeaders } from '../actors/limits/answer-headers.ts';
import { ADMIT_ALL } from '../actors/target-parts.ts';
import { tokenEstimateOnce } from '../actors/limits/token-cost.ts';
import { meterModeFor, UsageMeter } from '../actors/limits/usage-meter.ts';
import { bodyReadAlready, ByteLimit, declaredLength, hasBody, readBody } from './body.ts';
import { headerValue, upstreamRequestHeaders } from '../proxy/headers.ts';
import { streamBody, writeHead } from './reply.ts';
import { noteCall, type RequestContext } from '../proxy/request-context.ts';
import type { TargetRuntime } from '../actors/target-runtime.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export async function passThrough(ctx: RequestContext, target: TargetRuntime): Promise<void> {
  const { req, res } = ctx;
  const max = target.config.maxBodyBytes;
  if ((declaredLength(req) ?? 0) > max) throw new BodyTooLargeError(max);

  // A limit counting tokens estimates from the body, so the body is read before admission.
  const countsTokens = target.limits.countsTokens;
  const buffered = bodyReadAlready(req) ?? (countsTokens && hasBody(req) ? await readBody(req, max) : undefined);
  const tokens = countsTokens ? tokenEstimateOnce(ctx, target.config.limits, req.headers, buffered) : 0;
  const admitted = target.admitRequest(ctx, buffered);
  const client = admitted instanceof Promise ? await admitted : admitted; // no await hop when there is nothing to wait for
  const limit = !buffered && hasBody(req) ? new ByteLimit(max) : undefined;
  let signal = ctx.clientGone;
  if (limit) {
    req.pipe(limit);
    req.on('error', (e) => limit.destroy(e));
    // A body over the limit (or cut by the client) is the client's failure, not the replica's: the
    // call is aborted, which the dispatcher counts as the caller leaving, never as a replica error.
    // Otherwise a few oversized bodies open the breaker for everyone (found by the edge fuzz). The
    // listener also keeps the stream's 'error' from being unhandled (that crashed the process).
    const bodyFailed = new LightAbortController();
    limit.on('error', (e) => bodyFailed.abort(e));
    signal = anySignal([ctx.clientGone, bodyFailed.signal]);
  }
  try {
    const result = await target.callUpstream(
      { method: ctx.method, path: ctx.upstreamPath, headers: upstreamRequestHeaders(req, ctx.requestId), body: buffered ?? limit, signal },
      // A streamed body cannot be sent twice.
      { idempotent: IDEMPOTENT.has(ctx.method) && !limit, affinityKey: target.affinityKeyOf(req.headers), cost: { requests: 1, tokens }, signal },
    );
    const { reply, admission } = result;
    noteCall(ctx.access, result);
    // Unlimited targets add no headers of their own: skip building an object per answer for them.
    const limitHeaders = client === ADMIT_ALL && admission === ADMIT_ALL ? undefined : mergeAnswerHeaders(client.headers, admission.headers);
    writeHead(res, reply.status, reply.headers, limitHeaders ? { ...ctx.answerHeaders, ...limitHeaders } : ctx.answerHeaders);
    // Token limits reconcile with the usage the reply reports; the meter passes every byte through.
    const meter = countsTokens
      ? new UsageMeter(meterModeFor(headerValue(reply.headers, 'content-type'), headerValue(reply.headers, 'content-encoding')))
      : undefined;
    await streamBody(res, meter ? pipeline(reply.body, meter, () => {}) : reply.body);
    const usage = { tokens: meter?.tokens };
    admission.settle(usage);
    client.settle(usage);
  } catch (err) {
    client.cancel();
    if (limit?.exceeded) throw new BodyTooLargeError(max);
    if (ctx.clientGone.aborted) return;
    throw err;
  }
}


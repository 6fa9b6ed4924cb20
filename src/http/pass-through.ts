// Mode `none`, and every method a target does not batch: one client request, one upstream call, bodies
// streamed both ways. The client going away aborts the upstream call.
import { BodyTooLargeError } from '../errors.ts';
import { ByteLimit, declaredLength, hasBody } from './body.ts';
import { upstreamRequestHeaders } from './headers.ts';
import { streamBody, writeHead } from './reply.ts';
import type { RequestContext } from './request-context.ts';
import type { TargetRuntime } from '../actors/target-runtime.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export async function passThrough(ctx: RequestContext, target: TargetRuntime): Promise<void> {
  const { req, res } = ctx;
  const max = target.config.maxBodyBytes;
  if ((declaredLength(req) ?? 0) > max) throw new BodyTooLargeError(max);

  const client = await target.admitRequest(ctx);
  const limit = hasBody(req) ? new ByteLimit(max) : undefined;
  if (limit) {
    req.pipe(limit);
    req.on('error', (e) => limit.destroy(e));
  }
  try {
    const { reply, admission } = await target.callUpstream(
      { method: ctx.method, path: ctx.upstreamPath, headers: upstreamRequestHeaders(req, ctx.requestId), body: limit, signal: ctx.clientGone },
      // A streamed body cannot be sent twice.
      { idempotent: IDEMPOTENT.has(ctx.method) && !limit, cost: { requests: 1, tokens: 0 }, signal: ctx.clientGone },
    );
    writeHead(res, reply.status, reply.headers, { ...ctx.answerHeaders, ...client.headers, ...admission.headers });
    await streamBody(res, reply.body);
    admission.settle({});
    client.settle({});
  } catch (err) {
    client.cancel();
    if (limit?.exceeded) throw new BodyTooLargeError(max);
    if (ctx.clientGone.aborted) return;
    throw err;
  }
}


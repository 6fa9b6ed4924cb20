// What a coalesced batch is: identical requests (same coalesce key) answered by one upstream call
// made with the first waiter's request, whose reply — status, headers, body — goes to every waiter.
//
// A reply that is private to its caller (`Set-Cookie`, `Cache-Control: private` or `no-store`) is
// not shared: it goes to the first waiter only, every other waiter is told to go upstream on its own
// (all at once, never one after another), and the registry lets that key pass through uncoalesced
// for a while, since the next reply will most likely be private too.
import type { HeaderMap } from '../../http/headers.ts';
import { endToEnd, headerValue, upstreamRequestHeaders } from '../../http/headers.ts';
import { noteCall, type RequestContext } from '../../http/request-context.ts';
import { estimateTokens } from '../../limit/tokens.ts';
import { batchHeaderValue, type BatchExecutor, type FanOutResult, type SlotInfo } from '../batch-registry.ts';
import type { TargetRuntime, UpstreamCallResult } from '../target-runtime.ts';
import { BodyTee } from './body-tee.ts';
import { UsageWatch } from './usage-watch.ts';

export type CoalesceAnswer =
  /**
   * The shared reply: write the head, then `tee.attach(res)`; the tee starts once every waiter attached.
   * `headers` are ready to send (end-to-end upstream headers, the upstream admission's, X-Sluice-Batch)
   * and shared by every waiter: add to a copy, never to them.
   */
  | { readonly kind: 'reply'; readonly slot: SlotInfo; readonly status: number; readonly headers: Readonly<HeaderMap>;
      readonly tee: BodyTee; readonly usage: () => number | undefined }
  /** The one call failed: the same problem for everyone. */
  | { readonly kind: 'failed'; readonly slot: SlotInfo; readonly error: unknown }
  /** The reply was private and went to another waiter: make your own call. */
  | { readonly kind: 'alone'; readonly slot: SlotInfo };

export interface CoalesceWaiter {
  readonly ctx: RequestContext;
  readonly body: Buffer | undefined;
  /** Called at most once by the batch; ignored when the waiter was already answered. */
  answer(a: CoalesceAnswer): void;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export const isIdempotent = (method: string): boolean => IDEMPOTENT.has(method);

/** A reply meant for one caller only (RFC 9111 §5.2.2: `private`, `no-store`; a cookie being set). */
export function isPrivateReply(headers: HeaderMap): boolean {
  if (headers['set-cookie'] !== undefined) return true;
  const cc = headerValue(headers, 'cache-control');
  if (!cc) return false;
  return cc.split(',').some((d) => {
    const name = d.trim().split('=')[0]!.trim().toLowerCase();
    return name === 'private' || name === 'no-store';
  });
}

export function coalesceExecutor(target: TargetRuntime): BatchExecutor<CoalesceWaiter, UpstreamCallResult> {
  return {
    call(batch, signal) {
      const leader = batch[0]!;
      const { ctx, body } = leader;
      const headers = upstreamRequestHeaders(ctx.req, ctx.requestId);
      const tokens = target.limits.countsTokens ? estimateTokens({ headers: ctx.req.headers, body: body ?? '' }) : 0;
      return target.callUpstream(
        { method: ctx.method, path: ctx.upstreamPath, headers, body, signal },
        { idempotent: isIdempotent(ctx.method), cost: { requests: 1, tokens }, signal },
      );
    },

    fanOut(result, present, slot): FanOutResult {
      const { reply, admission } = result;
      for (const w of present) noteCall(w.ctx.access, result, slot); // a waiter sent alone notes its own call over this
      const shared = !isPrivateReply(reply.headers);
      const receivers = shared ? present : present.slice(0, 1);
      const watch = target.limits.countsTokens ? new UsageWatch(headerValue(reply.headers, 'content-type')) : undefined;
      const tee = new BodyTee(reply.body, {
        ...(watch ? { onChunk: (c: Buffer) => watch.push(c) } : {}),
        onEnd: () => admission.settle({ tokens: watch?.total() }),
      });
      const usage = (): number | undefined => watch?.total();
      // Built once per reply, not once per waiter: a burst of a thousand shares one header map.
      const headers: HeaderMap = { ...endToEnd(reply.headers), ...admission.headers, 'x-sluice-batch': batchHeaderValue(slot) };
      const answer: CoalesceAnswer = { kind: 'reply', slot, status: reply.status, headers, tee, usage };
      for (const w of receivers) w.answer(answer);
      tee.start();
      const alone = shared ? [] : present.slice(1);
      for (const w of alone) w.answer({ kind: 'alone', slot });
      return { alone: alone.length, uncoalesce: !shared };
    },

    fail(error, present, slot) {
      for (const w of present) { noteCall(w.ctx.access, undefined, slot); w.answer({ kind: 'failed', slot, error }); }
    },
  };
}

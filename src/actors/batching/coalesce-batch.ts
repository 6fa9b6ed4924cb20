// What a coalesced batch is: identical requests (same coalesce key) answered by one upstream call
// made with the first waiter's request, whose reply — status, headers, body — goes to every waiter.
// Requests joining while the body streams get the same head and the body from its first byte (the
// tee keeps up to `batch.maxJoinBytes`; past that, joins stop and later requests make a new call).
//
// A reply that is private to its caller (`Set-Cookie`, `Cache-Control: private` or `no-store`) is
// not shared: it goes to the first waiter only, every other waiter is told to go upstream on its own
// (all at once, never one after another), nobody may join it, and the registry lets that key pass
// through uncoalesced for a while, since the next reply will most likely be private too.
import type { Clock } from '../../clock.ts';
import type { HeaderMap } from '../../proxy/headers.ts';
import { endToEnd, headerValue, upstreamRequestHeaders } from '../../proxy/headers.ts';
import { noteCall, type RequestContext } from '../../proxy/request-context.ts';
import { estimateTokens } from '../../limit/tokens.ts';
import { batchHeaderValue, type BatchExecutor, type BatchRegistry, type FanOutResult, type SlotInfo } from '../batch-registry.ts';
import type { TargetCalls, UpstreamCallResult } from '../target-parts.ts';
import type { WaiterOutcome } from './batch-metrics.ts';
import { BodyTee } from './body-tee.ts';
import { UsageWatch } from './usage-watch.ts';
import { callForKey, clientsOf, fleetBatchHeader, isOwnerResult } from '../fleet/forward-call.ts';
import type { FleetScope } from '../fleet/fleet-scope.ts';

export type CoalesceAnswer =
  /**
   * The shared reply: write the head, then `tee.attach(res)`. Before the tee started, it starts once
   * every waiter attached; after (a late joiner), attaching writes what has passed, then the rest.
   * `headers` are ready to send (end-to-end upstream headers, the upstream admission's, X-Sluice-Batch)
   * and may be shared by several waiters: add to a copy, never to them.
   */
  | { readonly kind: 'reply'; readonly slot: SlotInfo; readonly status: number; readonly headers: Readonly<HeaderMap>;
      readonly tee: BodyTee; readonly usage: () => number | undefined }
  /** The one call failed: the same problem for everyone. */
  | { readonly kind: 'failed'; readonly slot: SlotInfo; readonly error: unknown }
  /** The reply was private and went to another waiter, or came too late to join: make your own call. */
  | { readonly kind: 'alone'; readonly slot: SlotInfo };

export interface CoalesceWaiter {
  readonly ctx: RequestContext;
  readonly body: Buffer | undefined;
  /** Called at most once by the batch; ignored when the waiter was already answered. */
  answer(a: CoalesceAnswer): void;
}

/** The reply of a coalesced call. */
export type CoalesceReply = UpstreamCallResult;

/** What the HTTP side of coalescing needs from the target's batching (see src/http/coalesce.ts). */
export interface CoalesceDeps {
  readonly registry: BatchRegistry<CoalesceWaiter, CoalesceReply>;
  /** Counts one answered waiter by outcome (BatchMetrics.answeredCounter). */
  readonly count: (outcome: WaiterOutcome) => void;
  readonly clock: Clock;
  /** The request headers the key reads (`vary`, and credentials unless public), lower case. */
  readonly keyHeaders: readonly string[];
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

export interface CoalesceExecutorOptions {
  /** `batch.maxJoinBytes`: body bytes kept for joiners mid-body. */
  readonly maxJoinBytes: number;
  readonly onFault?: (what: string, error: unknown) => void;
  /** Set with `batch.scope: cluster`: flights of keys another node owns may go to that node. */
  readonly fleet?: FleetScope | undefined;
}

export function coalesceExecutor(target: TargetCalls, o: CoalesceExecutorOptions): BatchExecutor<CoalesceWaiter, CoalesceReply> {
  return {
    call(batch, signal, slot) {
      const leader = batch[0]!;
      const { ctx, body } = leader;
      const headers = upstreamRequestHeaders(ctx.req, ctx.requestId);
      const tokens = target.limits.countsTokens ? estimateTokens({ headers: ctx.req.headers, body: body ?? '' }) : 0;
      // Here, or at the key's owner with fleet scope (src/actors/fleet/forward-call.ts).
      return callForKey(target, o.fleet, { key: slot.key, ctx, body, clients: batch.reduce((n, w) => n + clientsOf(w.ctx), 0) },
        { method: ctx.method, path: ctx.upstreamPath, headers, body, signal },
        { idempotent: isIdempotent(ctx.method), cost: { requests: 1, tokens }, signal },
      );
    },

    joinable: ({ reply }) => !isPrivateReply(reply.headers),

    fanOut(result, present, slot, flight): FanOutResult<CoalesceWaiter> {
      const { reply, admission } = result;
      for (const w of present) noteCall(w.ctx.access, result, slot); // a waiter sent alone notes its own call over this
      const shared = !isPrivateReply(reply.headers);
      const receivers = shared ? present : present.slice(0, 1);
      const watch = target.limits.countsTokens ? new UsageWatch(headerValue(reply.headers, 'content-type')) : undefined;
      const upstreamHeaders = endToEnd(reply.headers);
      // Fleet scope: a forwarded waiter stands for the clients it carried; a reply from the owner
      // is named after the owner's call (forward-call.ts).
      let carried = present.reduce((n, w) => n + clientsOf(w.ctx) - 1, 0);
      const batchHeader = (s: SlotInfo): string =>
        (isOwnerResult(result) ? fleetBatchHeader(result, s.size + carried) : undefined) ?? batchHeaderValue({ ...s, size: s.size + carried });
      const tee: BodyTee = new BodyTee(reply.body, {
        keepBytes: shared ? o.maxJoinBytes : 0,
        ...(watch ? { onChunk: (c: Buffer) => watch.push(c) } : {}),
        onOverflow: () => flight.overflowed(),
        onEnd: () => {
          admission.settle({ tokens: watch?.total() });
          if (shared) flight.ended();
        },
      });
      const usage = (): number | undefined => watch?.total();
      // Built once per reply, not once per waiter: a burst of a thousand shares one header map.
      // Object.assign rather than spread: under Node 20, `{ ...a, ...b }` and `{ ...a, k: v }` cost
      // 1–3 µs each here (measured), Object.assign a tenth of that; this runs per call and per joiner.
      const base: HeaderMap = Object.assign({}, upstreamHeaders, admission.headers);
      const headers: HeaderMap = Object.assign({}, base, { 'x-sluice-batch': batchHeader(slot) });
      const answer: CoalesceAnswer = { kind: 'reply', slot, status: reply.status, headers, tee, usage };
      for (const w of receivers) w.answer(answer);
      tee.start();
      const alone = shared ? [] : present.slice(1);
      for (const w of alone) w.answer({ kind: 'alone', slot });
      if (!shared) return { alone: alone.length, uncoalesce: true };
      return {
        alone: 0,
        uncoalesce: false,
        // A late joiner's head says how many clients the call had answered when it was written.
        join: (w, s) => {
          if (!tee.attachable) return false;
          carried += clientsOf(w.ctx) - 1;
          noteCall(w.ctx.access, result, s);
          w.answer({ kind: 'reply', slot: s, status: reply.status, headers: Object.assign({}, base, { 'x-sluice-batch': batchHeader(s) }), tee, usage });
          return true;
        },
      };
    },

    fail(error, present, slot) {
      for (const w of present) { noteCall(w.ctx.access, undefined, slot); w.answer({ kind: 'failed', slot, error }); }
    },

    alone(w, slot) { w.answer({ kind: 'alone', slot }); },
  };
}


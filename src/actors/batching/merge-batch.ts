// What a merged batch is: distinct requests to one route (same merge key) whose bodies a strategy
// merges into one upstream call; the reply is split back into one answer per caller. One bad item
// never fails the others: a body the strategy refuses at merge is answered 400 at once, a reply that
// misses an item answers that caller 502. Only a reply the strategy cannot read at all, a failed
// call or a strategy that throws while merging fails the whole batch.
import type { Readable } from 'node:stream';
import { badReplyFor, completeSplit, failAll, includedIds } from '../../batch/index.ts';
import type { ItemAnswer, MergeItem, MergeStrategy, SplitResult } from '../../batch/index.ts';
import { BadUpstreamReplyError } from '../../errors.ts';
import { upstreamRequestHeaders } from '../../proxy/headers.ts';
import { noteCall, type RequestContext } from '../../proxy/request-context.ts';
import { usageFromJson } from '../../limit/tokens.ts';
import type { Clock } from '../../clock.ts';
import type { BatchExecutor, BatchRegistry, SlotInfo } from '../batch-registry.ts';
import type { TargetCalls } from '../target-parts.ts';
import type { WaiterOutcome } from './batch-metrics.ts';

export type MergeAnswer =
  | { readonly kind: 'item'; readonly slot: SlotInfo; readonly answer: ItemAnswer; readonly upstreamHeaders: Readonly<Record<string, string>> }
  | { readonly kind: 'failed'; readonly slot: SlotInfo; readonly error: unknown };

export interface MergeWaiter {
  readonly ctx: RequestContext;
  /** `item.id` is the waiter id: unique in its batch. */
  readonly item: MergeItem;
  /** This item's token estimate (0 when no limit counts tokens). */
  readonly tokens: number;
  answer(a: MergeAnswer): void;
}

export interface MergeReply {
  readonly perItem: ReadonlyMap<string, ItemAnswer>;
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  /** The one upstream call (absent when the strategy refused every item): for the access lines. */
  readonly call?: { readonly replica: string; readonly upstreamMs: number };
}

/** What the HTTP side of merging needs from the target's batching (see src/http/merge.ts). */
export interface MergeDeps {
  readonly registry: BatchRegistry<MergeWaiter, MergeReply>;
  readonly strategy: Promise<MergeStrategy>;
  /** Counts one answered waiter by outcome (BatchMetrics.answeredCounter). */
  readonly count: (outcome: WaiterOutcome) => void;
  readonly clock: Clock;
}

/** The batch reply is read whole (it must be split); this bounds it. */
export const MAX_BATCH_REPLY_BYTES = 256 * 1024 * 1024;

export function mergeExecutor(
  target: TargetCalls, strategy: Promise<MergeStrategy>, log?: (line: string, fields?: Record<string, unknown>) => void,
): BatchExecutor<MergeWaiter, MergeReply> {
  return {
    async call(batch, signal, slot): Promise<MergeReply> {
      const s = await strategy;
      const items = batch.map((w) => w.item);
      let merged;
      try {
        merged = s.merge(items);
      } catch (cause) {
        // The strategy's fault, not the callers' nor the upstream's: a plain 500 for the whole batch.
        log?.('merge strategy failed to merge', { target: target.name, strategy: s.name, error: String((cause as Error)?.stack ?? cause) });
        throw new Error(`merge strategy ${s.name} failed to merge ${items.length} requests: ${(cause as Error)?.message ?? String(cause)}`, { cause });
      }
      for (const w of batch) {
        const refused = merged.rejected?.get(w.item.id);
        if (refused) w.answer({ kind: 'item', slot, answer: refused, upstreamHeaders: {} });
      }
      const ids = includedIds(items, merged);
      if (ids.length === 0) return { perItem: new Map(), upstreamHeaders: {} };
      const leader = batch.find((w) => w.item.id === ids[0])!;
      const headers = upstreamRequestHeaders(leader.ctx.req, leader.ctx.requestId);
      delete headers['content-length'];
      headers['content-type'] = merged.contentType;
      const tokens = batch.reduce((sum, w) => sum + (merged.rejected?.has(w.item.id) ? 0 : w.tokens), 0);
      const { reply, admission, replica, upstreamMs } = await target.callUpstream(
        { method: leader.ctx.method, path: leader.ctx.upstreamPath, headers, body: merged.body, signal },
        { idempotent: s.retrySafe ?? false, cost: { requests: 1, tokens }, signal },
      );
      let body: Buffer;
      try {
        body = await readAll(reply.body, Math.min(MAX_BATCH_REPLY_BYTES, target.config.maxBodyBytes * ids.length));
      } catch (err) {
        admission.settle({});
        throw err;
      }
      admission.settle({ tokens: target.limits.countsTokens ? usageFromJson(body) : undefined });
      const contentType = reply.headers['content-type'];
      let split: SplitResult;
      try {
        split = s.split({ status: reply.status, body, ...(typeof contentType === 'string' ? { contentType } : {}) }, ids);
      } catch (err) {
        split = failAll(ids, `merge strategy ${s.name} failed to split the reply: ${(err as Error)?.message ?? String(err)}`);
      }
      return { perItem: completeSplit(split, ids).perItem, upstreamHeaders: admission.headers, call: { replica, upstreamMs } };
    },

    fanOut(reply, present, slot) {
      for (const w of present) {
        noteCall(w.ctx.access, reply.call, slot);
        const answer = reply.perItem.get(w.item.id) ?? badReplyFor(`batch reply has no answer for request ${w.item.id}`);
        w.answer({ kind: 'item', slot, answer, upstreamHeaders: reply.upstreamHeaders });
      }
    },

    fail(error, present, slot) {
      for (const w of present) { noteCall(w.ctx.access, undefined, slot); w.answer({ kind: 'failed', slot, error }); }
    },
  };
}

/** Reads a reply body whole, failing with 502 past `maxBytes` (the connection is dropped). */
function readAll(body: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) { body.destroy(); reject(new BadUpstreamReplyError(`batch reply exceeds ${maxBytes} bytes`)); return; }
      chunks.push(c);
    });
    body.once('end', () => resolve(Buffer.concat(chunks, size)));
    body.once('error', (e) => reject(new BadUpstreamReplyError(`batch reply was cut off: ${e.message}`, { cause: e })));
  });
}

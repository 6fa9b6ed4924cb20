import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What the access line says about how a request was served, filled in by whichever handler serves it
 * (pass-through, coalesce, merge, cache). Fields stay absent when they do not apply: a pass-through
 * request has no batch, a target without limits no limit decision.
 */
export interface AccessRecord {
  /** The slot that answered it (`X-Sluice-Batch`), and how many requests that one call served. */
  batchId?: string;
  batchSize?: number;
  /** The response cache's answer: hit, stale, revalidated, miss, or bypass (a method it does not cache). */
  cache?: string;
  /** The client-side limits' decision: admitted, or rejected (429). */
  limit?: 'admitted' | 'rejected';
  /** The replica that answered the upstream call, and how long that call took (ms, head received). */
  replica?: string;
  upstreamMs?: number;
}

/** One client request as it moves through a target's pipeline. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The client's X-Request-Id when it sent a sane one, else a new id; sent upstream and back. */
  requestId: string;
  /** Epoch ms of arrival, from the node's clock. */
  receivedAt: number;
  method: string;
  /** The path after the target's prefix, with the query: what the upstream is asked for. */
  upstreamPath: string;
  /** Path without the query, and the raw query string (without '?'). */
  path: string;
  query: string;
  clientIp: string;
  /** Headers sluice adds to whatever answer this request gets (limits, degraded mode…). */
  answerHeaders: Record<string, string>;
  /** Aborted when the client goes away before its answer is complete. */
  clientGone: AbortSignal;
  /**
   * A flight forwarded by another node (fleet scope): admitted there, answered here, never forwarded
   * again; it stands for `clients` clients in X-Sluice-Batch sizes.
   */
  forwarded?: { readonly from: string; readonly clients: number };
  /** Filled in along the way; written as the access line when the answer is done. */
  access: AccessRecord;
}

/** Notes an upstream call (and the batch it served, if any) on the access record. */
export function noteCall(a: AccessRecord, call: { replica: string; upstreamMs: number } | undefined, slot?: { slotId: string; size: number }): void {
  if (call) { a.replica = call.replica; a.upstreamMs = call.upstreamMs; }
  if (slot) { a.batchId = slot.slotId; a.batchSize = slot.size; }
}

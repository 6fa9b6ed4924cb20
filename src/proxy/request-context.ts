import type { IncomingMessage, ServerResponse } from 'node:http';

/** One client request as it moves through a target's pipeline. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
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
}

// Errors at the HTTP edge become RFC 9457 problem details. One table maps every ErrorCode to its
// status and title, so a new code does not compile until it has an HTTP meaning. Unknown errors are
// a bare 500: their details go to the log, never to the client.
import type { ServerResponse } from 'node:http';
import { BreakerOpenError, ErrorCode, SluiceError } from '../errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const table: Record<ErrorCode, { status: number; title: string }> = {
  [ErrorCode.InvalidArgument]: { status: 400, title: 'Invalid argument' },
  [ErrorCode.InvalidConfig]: { status: 400, title: 'Invalid configuration' },
  [ErrorCode.RouteNotFound]: { status: 404, title: 'No route' },
  [ErrorCode.BodyTooLarge]: { status: 413, title: 'Request body too large' },
  [ErrorCode.UpstreamUnavailable]: { status: 502, title: 'Upstream unavailable' },
  [ErrorCode.UpstreamTimeout]: { status: 504, title: 'Upstream timeout' },
  [ErrorCode.BadUpstreamReply]: { status: 502, title: 'Bad upstream reply' },
  [ErrorCode.ClientDeadline]: { status: 504, title: 'Deadline exceeded' },
  [ErrorCode.RateLimited]: { status: 429, title: 'Rate limited' },
  [ErrorCode.BreakerOpen]: { status: 503, title: 'Circuit open' },
  [ErrorCode.QueueFull]: { status: 503, title: 'Upstream at capacity' },
  [ErrorCode.Unauthorized]: { status: 401, title: 'Unauthorized' },
  [ErrorCode.BadRequest]: { status: 400, title: 'Bad request' },
  [ErrorCode.NotFound]: { status: 404, title: 'Not found' },
  [ErrorCode.ShuttingDown]: { status: 503, title: 'Shutting down' },
  [ErrorCode.BusTimeout]: { status: 503, title: 'Cluster did not answer' },
  [ErrorCode.NoResponders]: { status: 503, title: 'Cluster did not answer' },
  [ErrorCode.BusClosed]: { status: 503, title: 'Cluster bus closed' },
  [ErrorCode.PayloadTooLarge]: { status: 503, title: 'Cluster message too large' },
  [ErrorCode.NotCached]: { status: 504, title: 'Not in cache' },
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code?: string;
  [ext: string]: unknown;
}

export function problemFor(err: unknown, instance?: string): Problem {
  if (err instanceof SluiceError) {
    const { status, title } = table[err.code];
    return { type: `urn:sluice:error:${err.code.slice('SLUICE_'.length).toLowerCase().replaceAll('_', '-')}`, title, status, detail: err.message, code: err.code, ...(instance ? { instance } : {}) };
  }
  return { type: 'about:blank', title: 'Internal Server Error', status: 500, ...(instance ? { instance } : {}) };
}

/** Seconds for a Retry-After header: 429 and 503 answers always carry one. */
export function retryAfterSeconds(err: unknown): number | undefined {
  if (err instanceof BreakerOpenError) return Math.max(1, Math.ceil(err.retryAfterMs / 1000));
  const retryAfterMs = (err as { retryAfterMs?: unknown })?.retryAfterMs;
  if (typeof retryAfterMs === 'number') return Math.max(1, Math.ceil(retryAfterMs / 1000));
  const p = problemFor(err);
  return p.status === 429 || p.status === 503 ? 1 : undefined;
}

/** Writes one problem answer unless an answer has already started (then the socket is cut). */
export function sendProblem(res: ServerResponse, err: unknown, instance?: string, headers: Record<string, string | number> = {}): void {
  if (res.headersSent) { res.destroy(); return; }
  const p = problemFor(err, instance);
  const retryAfter = retryAfterSeconds(err);
  const body = JSON.stringify(p);
  // Errors may carry answer headers of their own (a 429's RateLimit-*).
  const own = (err as { headers?: unknown })?.headers;
  res.writeHead(p.status, {
    ...headers,
    ...(err instanceof SluiceError && typeof own === 'object' && own !== null ? own as Record<string, string> : {}),
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
  });
  res.end(body);
}

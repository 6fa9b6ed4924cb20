// Calls one upstream replica with undici: a keep-alive pool per replica whose connection count is the
// replica's concurrency cap. Failures become typed errors (unreachable → 502, timeout → 504) so every
// caller maps them the same way; the reply body stays a stream so large and streaming replies flow.
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.ts';
import type { HeaderMap } from './headers.ts';

export interface UpstreamCall {
  method: string;
  /** Path and query, already rewritten for the upstream (`/rest?q=1`). */
  path: string;
  headers: HeaderMap;
  body?: Buffer | Readable | undefined;
  /** Aborts the call (every waiter left, or the node is closing). */
  signal?: AbortSignal;
}

export interface UpstreamReply {
  status: number;
  headers: HeaderMap;
  body: Readable;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export class ReplicaClient {
  private readonly pool: Pool;

  constructor(readonly origin: string, private readonly opts: { connections: number; timeoutMs: number }) {
    this.pool = new Pool(origin, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connectTimeout: Math.min(opts.timeoutMs, 10_000),
    });
  }

  call(c: UpstreamCall): Promise<UpstreamReply> {
    // A plain promise chain rather than an async function: one promise and one tick fewer per call.
    return this.pool.request({
      method: c.method as 'GET',
      path: c.path,
      headers: c.headers,
      body: c.body ?? null,
      signal: c.signal ?? null,
    }).then(
      (r) => ({ status: r.statusCode, headers: r.headers as HeaderMap, body: r.body }),
      (err: unknown) => { throw toUpstreamError(err, this.origin, this.opts.timeoutMs); },
    );
  }

  close(): Promise<void> { return this.pool.close().catch(() => {}); }
}

export function toUpstreamError(err: unknown, origin: string, timeoutMs: number): Error {
  const code = (err as { code?: string })?.code;
  if (code && TIMEOUT_CODES.has(code)) return new UpstreamTimeoutError(origin, timeoutMs);
  if ((err as Error)?.name === 'AbortError' || code === 'UND_ERR_ABORTED') return err as Error;
  return new UpstreamUnavailableError(origin, { cause: err });
}

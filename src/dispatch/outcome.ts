// Decides whether one upstream call counts against its replica's health (for the breaker), and
// which failures are transient enough to try again (for retry). An answer from a healthy upstream
// that refuses the request (4xx) is a success here: the replica is up; the client was wrong.
import { ErrorCode, SluiceError } from '../errors.ts';

export type Outcome = 'success' | 'failure';

export interface CallResult {
  /** The upstream's status, when it answered. */
  readonly status?: number | undefined;
  /** What the call threw, when it did not answer (undici, Node or sluice's upstream errors). */
  readonly error?: unknown;
}

export interface ClassifyOptions {
  /** Count 429 as a failure: for upstreams whose throttling means "overloaded". Default false. */
  readonly failOn429?: boolean | undefined;
}

/**
 * Connect errors, timeouts and 5xx are failures (and 429 when asked). Do not report a call the
 * client aborted: its outcome says nothing about the replica.
 */
export function classifyOutcome(result: CallResult, options: ClassifyOptions = {}): Outcome {
  if (result.error !== undefined && result.error !== null) return 'failure';
  const status = result.status;
  if (status === undefined) return 'failure';
  if (status >= 500) return 'failure';
  if (status === 429 && options.failOn429 === true) return 'failure';
  return 'success';
}

// undici's own retry handler retries these codes (lib/handler/retry-handler.js), plus its timeouts.
const CONNECT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'ENETDOWN', 'ENETUNREACH', 'EHOSTDOWN', 'EHOSTUNREACH',
  'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The upstream could not be reached or did not answer in time: connect errors, resets and timeouts,
 * whether raw (a Node or undici `code`, anywhere in the `cause` chain) or already wrapped by
 * src/proxy/upstream-client.ts. Client aborts are not.
 */
export function isTransientError(error: unknown): boolean {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof SluiceError) {
      if (e.code === ErrorCode.UpstreamUnavailable || e.code === ErrorCode.UpstreamTimeout) return true;
      continue;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECT_CODES.has(code) || TIMEOUT_CODES.has(code))) return true;
  }
  return false;
}

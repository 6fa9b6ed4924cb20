// Every failure sluice throws is a SluiceError with a stable `code`; tests match on the code,
// never on message text. Expected outcomes (a denied request, an open breaker) are values, not errors.

export const ErrorCode = {
  InvalidArgument: 'SLUICE_INVALID_ARGUMENT',
  InvalidConfig: 'SLUICE_INVALID_CONFIG',
  RouteNotFound: 'SLUICE_ROUTE_NOT_FOUND',
  BodyTooLarge: 'SLUICE_BODY_TOO_LARGE',
  UpstreamUnavailable: 'SLUICE_UPSTREAM_UNAVAILABLE',
  UpstreamTimeout: 'SLUICE_UPSTREAM_TIMEOUT',
  BadUpstreamReply: 'SLUICE_BAD_UPSTREAM_REPLY',
  ClientDeadline: 'SLUICE_CLIENT_DEADLINE',
  RateLimited: 'SLUICE_RATE_LIMITED',
  BreakerOpen: 'SLUICE_BREAKER_OPEN',
  QueueFull: 'SLUICE_QUEUE_FULL',
  Unauthorized: 'SLUICE_UNAUTHORIZED',
  BadRequest: 'SLUICE_BAD_REQUEST',
  NotFound: 'SLUICE_NOT_FOUND',
  ShuttingDown: 'SLUICE_SHUTTING_DOWN',
  BusTimeout: 'SLUICE_BUS_TIMEOUT',
  NoResponders: 'SLUICE_NO_RESPONDERS',
  BusClosed: 'SLUICE_BUS_CLOSED',
  PayloadTooLarge: 'SLUICE_PAYLOAD_TOO_LARGE',
  NotCached: 'SLUICE_NOT_CACHED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SluiceError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends SluiceError {
  constructor(message: string, options?: ErrorOptions) { super(ErrorCode.InvalidArgument, message, options); }
}

/** One bad config field: `path` is dotted (`targets.0.batch.maxWaitMs`), `value` what was found. */
export interface ConfigIssue { path: string; value: unknown; expected: string }

export class InvalidConfigError extends SluiceError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], source = 'config') {
    super(ErrorCode.InvalidConfig, `invalid ${source}:\n` + issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

const formatIssue = (i: ConfigIssue): string =>
  `  - ${i.path || '(root)'}: got ${describeValue(i.value)}, expected ${i.expected}`;

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    // Too deep to print (thousands of nested lists in a hostile file): describe it by its shape.
    return Array.isArray(v) ? 'a deeply nested list' : 'a deeply nested object';
  }
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
}

export class RouteNotFoundError extends SluiceError {
  constructor(readonly path: string) { super(ErrorCode.RouteNotFound, `no target serves ${path}`); }
}

export class BodyTooLargeError extends SluiceError {
  constructor(readonly limitBytes: number) { super(ErrorCode.BodyTooLarge, `request body exceeds ${limitBytes} bytes`); }
}

export class UpstreamUnavailableError extends SluiceError {
  constructor(readonly upstream: string, options?: ErrorOptions) {
    super(ErrorCode.UpstreamUnavailable, `upstream ${upstream} could not be reached`, options);
  }
}

export class UpstreamTimeoutError extends SluiceError {
  constructor(readonly upstream: string, readonly timeoutMs: number) {
    super(ErrorCode.UpstreamTimeout, `upstream ${upstream} did not answer within ${timeoutMs} ms`);
  }
}

export class BadUpstreamReplyError extends SluiceError {
  constructor(detail: string, options?: ErrorOptions) { super(ErrorCode.BadUpstreamReply, detail, options); }
}

export class ClientDeadlineError extends SluiceError {
  constructor(readonly waitedMs: number) { super(ErrorCode.ClientDeadline, `no answer within ${waitedMs} ms`); }
}

export class BreakerOpenError extends SluiceError {
  constructor(readonly target: string, readonly retryAfterMs: number) {
    super(ErrorCode.BreakerOpen, `every replica of ${target} is failing; circuit open`);
  }
}

export class QueueFullError extends SluiceError {
  constructor(readonly target: string) { super(ErrorCode.QueueFull, `${target} is at capacity; queue full`); }
}

export class UnauthorizedError extends SluiceError {
  constructor() { super(ErrorCode.Unauthorized, 'a valid bearer token is required'); }
}

export class BadRequestError extends SluiceError {
  constructor(message: string) { super(ErrorCode.BadRequest, message); }
}

export class NotFoundError extends SluiceError {
  constructor(message: string) { super(ErrorCode.NotFound, message); }
}

export class ShuttingDownError extends SluiceError {
  constructor() { super(ErrorCode.ShuttingDown, 'node is shutting down'); }
}

export class BusTimeoutError extends SluiceError {
  constructor(readonly subject: string, readonly timeoutMs: number) {
    super(ErrorCode.BusTimeout, `no reply on ${subject} within ${timeoutMs} ms`);
  }
}

export class NoRespondersError extends SluiceError {
  constructor(readonly subject: string) { super(ErrorCode.NoResponders, `no responders on ${subject}`); }
}

export class BusClosedError extends SluiceError {
  constructor() { super(ErrorCode.BusClosed, 'bus is closed'); }
}

/** A bus message larger than the server's max_payload: never sent (send large lists in parts, src/bus/message-parts.ts). */
export class PayloadTooLargeError extends SluiceError {
  constructor(readonly subject: string, readonly maxPayload: number) {
    super(ErrorCode.PayloadTooLarge, `message on ${subject} is larger than the bus's max payload (${maxPayload})`);
  }
}

/** Over a limit with `onLimit: reject`, or queued past `maxQueueMs`. Carries the RateLimit-* headers. */
export class RateLimitedError extends SluiceError {
  constructor(readonly limitName: string, readonly retryAfterMs: number, readonly headers: Readonly<Record<string, string>>) {
    super(ErrorCode.RateLimited, `limit ${limitName} reached; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** `Cache-Control: only-if-cached` and nothing stored may answer (RFC 9111 §5.2.1.7: 504). */
export class NotCachedError extends SluiceError {
  constructor(readonly url: string) { super(ErrorCode.NotCached, `no stored answer for ${url} and the request said only-if-cached`); }
}

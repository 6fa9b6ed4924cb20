// What a limiter answers for one request. Being over the limit is a value, not an error: the HTTP
// layer turns a refusal into 429 with Retry-After and RateLimit-* headers, or queues the request.
// Shared by the approximate and the strict limiter.

export interface Decision {
  /** Let the request through. False only when over the limit and the limit is enforced. */
  readonly allowed: boolean;
  /** The limit's name from config, for metrics and problem details. */
  readonly limitName: string;
  /** The configured limit, in the limit's units (requests or tokens) per window: `RateLimit-Limit`. */
  readonly limit: number;
  /** Units still available in this window after this decision, never negative: `RateLimit-Remaining`. */
  readonly remaining: number;
  /** Epoch ms when the window this decision counted in ends: `RateLimit-Reset`. */
  readonly resetAt: number;
  /** When refused, ms to wait before trying again (`Retry-After`); 0 when allowed. */
  readonly retryAfterMs: number;
  /** The window this decision counted in (floor(epoch ms / windowMs)); pass it back to reconcile. */
  readonly windowId: number;
  /** The limiter could not see the whole cluster and applied its `degraded` policy: `X-Sluice-Degraded`. */
  readonly degraded: boolean;
  /**
   * The request is over the limit. With `enforce: false` (shadow mode) it is still allowed, and this
   * is how the operator learns what enforcing would refuse.
   */
  readonly wouldLimit: boolean;
}

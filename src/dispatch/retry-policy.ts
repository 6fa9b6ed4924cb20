// Decides whether a failed upstream call is tried again, and after how long. Only calls that are
// safe to repeat are retried, with capped exponential backoff and full jitter so that clients
// failing together do not come back together; an upstream's Retry-After is a floor on the wait.
// Whether the target's retry budget allows one more is asked separately (retry-budget.ts).
import { InvalidArgumentError } from '../errors.ts';
import { isTransientError } from './outcome.ts';

export interface RetryConfig {
  /** Total tries including the first; 1 disables retry. Default 3. */
  readonly attempts: number;
  /** Backoff before the first retry is drawn from [0, baseMs). Default 50 ms. */
  readonly baseMs: number;
  /** Cap of the backoff range. Default 2000 ms. */
  readonly maxMs: number;
  /** Retries allowed as a share of calls over the budget window (retry-budget.ts). Default 0.2. */
  readonly budget: number;
  /** No retry starts later than this after the first try began. Optional; default 10000 ms. */
  readonly maxTotalMs?: number | undefined;
}

export const DEFAULT_RETRY_CONFIG: Readonly<Required<RetryConfig>> = Object.freeze({
  attempts: 3, baseMs: 50, maxMs: 2_000, budget: 0.2, maxTotalMs: 10_000,
});

/** Methods RFC 9110 §9.2.2 defines as idempotent. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Answers that say "not now" rather than "no": bad gateway, unavailable, gateway timeout, too many requests. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015):
 * sleep = random_between(0, min(cap, base · 2^attempt)). `attempt` counts retries from 0.
 * `random` returns a number in [0, 1), like Math.random.
 */
export function backoffMs(attempt: number, { baseMs, maxMs }: Pick<RetryConfig, 'baseMs' | 'maxMs'>, random: () => number): number {
  if (!Number.isSafeInteger(attempt) || attempt < 0) throw new InvalidArgumentError(`'attempt' must be a non-negative integer, got ${attempt}`);
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/**
 * Reads a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in any of the three
 * date formats recipients must accept (§5.6.7). Returns ms from `now`, 0 for a date already past,
 * and undefined for anything else.
 */
export function parseRetryAfter(value: string | readonly string[] | null | undefined, now: number): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const seconds = Number(v);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : undefined;
  }
  const at = parseHttpDate(v, now);
  return at === undefined ? undefined : Math.max(0, at - now);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(?<month>${MONTHS.join('|')})`;
const TIME = '(?<h>\\d{2}):(?<mi>\\d{2}):(?<s>\\d{2})';
const DATE_FORMATS = [
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?<d>\\d{2}) ${MONTH} (?<y>\\d{4}) ${TIME} GMT$`),
  // obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (?<d>\\d{2})-${MONTH}-(?<yy>\\d{2}) ${TIME} GMT$`),
  // obsolete asctime: Sun Nov  6 08:49:37 1994
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} (?<d>[ \\d]\\d) ${TIME} (?<y>\\d{4})$`),
];

/**
 * Epoch ms of an HTTP-date, read strictly: Date.parse would read asctime as local time and accept
 * much that is not an HTTP-date. `now` resolves RFC 850's two-digit year (§5.6.7: a year that looks
 * more than 50 years ahead is the most recent past year with those digits).
 */
export function parseHttpDate(v: string, now: number): number | undefined {
  const g = DATE_FORMATS.map((re) => re.exec(v)?.groups).find((x) => x !== undefined);
  if (!g) return undefined;
  const d = Number(g.d!.trim()), h = Number(g.h), mi = Number(g.mi), s = Number(g.s);
  let year: number;
  if (g.y !== undefined) year = Number(g.y);
  else {
    const nowYear = new Date(now).getUTCFullYear();
    year = nowYear - (nowYear % 100) + Number(g.yy);
    if (year > nowYear + 50) year -= 100;
  }
  if (d < 1 || h > 23 || mi > 59 || s > 60) return undefined;
  // A leap second (:60) is read as :59; Retry-After has no use for more precision.
  const at = Date.UTC(year, MONTHS.indexOf(g.month!), d, h, mi, Math.min(s, 59));
  // Date.UTC rolls 31 Feb over into March: such a date is malformed, not a later one.
  return new Date(at).getUTCDate() === d ? at : undefined;
}

export interface RetryableCall {
  readonly method: string;
  readonly status?: number | undefined;
  readonly error?: unknown;
  /** A merged batch whose merge strategy declares it safe to send twice. */
  readonly idempotentBatch?: boolean | undefined;
}

/** Safe to repeat (idempotent method or a batch marked safe) and failed in a way that may pass. */
export function isRetryable(call: RetryableCall): boolean {
  const safe = IDEMPOTENT_METHODS.has(call.method.toUpperCase()) || call.idempotentBatch === true;
  if (!safe) return false;
  if (call.error !== undefined && call.error !== null) return isTransientError(call.error);
  return call.status !== undefined && RETRYABLE_STATUSES.has(call.status);
}

export interface RetryQuestion extends RetryableCall {
  /** Tries made so far, the first included (1 after the first call failed). */
  readonly attemptsMade: number;
  /** Epoch ms when the first try began. */
  readonly startedAt: number;
  /** Epoch ms now. */
  readonly now: number;
  /** The upstream's Retry-After header, if it sent one. */
  readonly retryAfter?: string | readonly string[] | null | undefined;
  /** Epoch ms after which nobody waits for the answer (the client's deadline), if any. */
  readonly deadlineAt?: number | undefined;
}

export type GiveUpReason = 'not-retryable' | 'attempts-exhausted' | 'out-of-time';

export type RetryPlan =
  | { readonly type: 'retry'; /** Wait this long, then try again. */ readonly delayMs: number }
  | { readonly type: 'give-up'; readonly reason: GiveUpReason };

/**
 * The whole retry decision but the budget. A Retry-After longer than the backoff is honoured; one
 * that would land past `maxTotalMs` or the client's deadline makes us give up now and pass the
 * upstream's answer on, rather than make the client wait for a try that cannot finish in time.
 */
export function planRetry(q: RetryQuestion, config: RetryConfig, random: () => number): RetryPlan {
  if (!isRetryable(q)) return { type: 'give-up', reason: 'not-retryable' };
  if (q.attemptsMade >= config.attempts) return { type: 'give-up', reason: 'attempts-exhausted' };
  const backoff = backoffMs(Math.max(0, q.attemptsMade - 1), config, random);
  const delayMs = Math.max(backoff, parseRetryAfter(q.retryAfter, q.now) ?? 0);
  const totalLimit = q.startedAt + (config.maxTotalMs ?? DEFAULT_RETRY_CONFIG.maxTotalMs);
  const limit = q.deadlineAt === undefined ? totalLimit : Math.min(totalLimit, q.deadlineAt);
  if (q.now + delayMs >= limit) return { type: 'give-up', reason: 'out-of-time' };
  return { type: 'retry', delayMs };
}

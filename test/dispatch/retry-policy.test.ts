import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { backoffMs, DEFAULT_RETRY_CONFIG, isRetryable, parseHttpDate, parseRetryAfter, planRetry } from '../../src/dispatch/retry-policy.ts';
import type { RetryQuestion } from '../../src/dispatch/retry-policy.ts';
import { retrySchema } from '../../src/config/schema.ts';
import { InvalidArgumentError, UpstreamUnavailableError } from '../../src/errors.ts';

const withCode = (code: string) => Object.assign(new Error(code), { code });
const cfg = { baseMs: 50, maxMs: 2_000 };

const backoff = suite('backoffMs');

backoff('draws from [0, base · 2^attempt): the ends of random map to the ends of the range', () => {
  assert.equal([0, 1, 2, 3].map((a) => backoffMs(a, cfg, () => 0)), [0, 0, 0, 0]);
  assert.equal([0, 1, 2, 3].map((a) => backoffMs(a, cfg, () => 0.999_999)), [49, 99, 199, 399]);
  assert.is(backoffMs(2, cfg, () => 0.5), 100);
});

backoff('the range stops growing at maxMs, even for huge attempts', () => {
  assert.is(backoffMs(6, cfg, () => 0.5), 1_000);
  assert.is(backoffMs(2_000, cfg, () => 0.5), 1_000);
});

backoff('stays within [0, min(maxMs, baseMs · 2^attempt)) for any random draw', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
    const ms = backoffMs(attempt, cfg, () => r);
    const cap = Math.min(cfg.maxMs, cfg.baseMs * 2 ** attempt);
    return Number.isInteger(ms) && ms >= 0 && ms < cap;
  }), { numRuns: 1_000 });
});

backoff('refuses a negative or fractional attempt', () => {
  assert.throws(() => backoffMs(-1, cfg, () => 0), (e: unknown) => e instanceof InvalidArgumentError);
  assert.throws(() => backoffMs(1.5, cfg, () => 0), (e: unknown) => e instanceof InvalidArgumentError);
});

const retryAfter = suite('parseRetryAfter');
const NOW = Date.UTC(1994, 10, 6, 8, 49, 0); // Sun, 06 Nov 1994 08:49:00 GMT

retryAfter('reads delay-seconds', () => {
  assert.is(parseRetryAfter('120', NOW), 120_000);
  assert.is(parseRetryAfter('0', NOW), 0);
  assert.is(parseRetryAfter(' 3 ', NOW), 3_000);
  assert.is(parseRetryAfter(['7', '9'], NOW), 7_000, 'the first of repeated headers');
});

retryAfter('reads the three HTTP-date formats of RFC 9110 §5.6.7 as UTC', () => {
  assert.is(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW), 37_000);
  assert.is(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW), 37_000);
  assert.is(parseRetryAfter('Sun Nov  6 08:49:37 1994', NOW), 37_000);
});

retryAfter('a date in the past means now', () => {
  assert.is(parseRetryAfter('Sun, 06 Nov 1994 08:00:00 GMT', NOW), 0);
});

retryAfter('anything else is no answer', () => {
  for (const v of ['', '-1', '1.5', '1e3', 'soon', 'Sun, 06 Nov 1994 08:49:37 PST', 'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT', '2024-01-01T00:00:00Z']) assert.is(parseRetryAfter(v, NOW), undefined, v);
  assert.is(parseRetryAfter(undefined, NOW), undefined);
  assert.is(parseRetryAfter(null, NOW), undefined);
});

retryAfter('an RFC 850 year more than 50 years ahead is the last century', () => {
  const in2030 = Date.UTC(2030, 0, 1);
  assert.is(new Date(parseHttpDate('Tuesday, 01-Jan-80 00:00:00 GMT', in2030)!).getUTCFullYear(), 2080);
  assert.is(new Date(parseHttpDate('Tuesday, 01-Jan-81 00:00:00 GMT', in2030)!).getUTCFullYear(), 1981);
});

const retryable = suite('isRetryable');

retryable('idempotent methods are retried on 429, 502, 503, 504 and transient errors', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'get']) {
    for (const status of [429, 502, 503, 504]) assert.ok(isRetryable({ method, status }), `${method} ${status}`);
    assert.ok(isRetryable({ method, error: withCode('ECONNREFUSED') }), method);
  }
});

retryable('other answers and errors are not retried', () => {
  for (const status of [200, 400, 404, 409, 500, 501]) assert.not.ok(isRetryable({ method: 'GET', status }), String(status));
  assert.not.ok(isRetryable({ method: 'GET', error: new Error('bug') }));
  assert.not.ok(isRetryable({ method: 'GET' }));
});

retryable('POST and PATCH are retried only as batches marked safe', () => {
  for (const method of ['POST', 'PATCH']) {
    assert.not.ok(isRetryable({ method, status: 503 }));
    assert.not.ok(isRetryable({ method, error: new UpstreamUnavailableError('http://a') }));
    assert.ok(isRetryable({ method, status: 503, idempotentBatch: true }));
  }
});

const plan = suite('planRetry');
const q = (over: Partial<RetryQuestion> = {}): RetryQuestion =>
  ({ method: 'GET', status: 503, attemptsMade: 1, startedAt: 0, now: 100, ...over });
const config = { ...DEFAULT_RETRY_CONFIG };

plan('retries after a full-jitter backoff that grows with each attempt', () => {
  assert.equal(planRetry(q({ attemptsMade: 1 }), config, () => 0.5), { type: 'retry', delayMs: 25 });
  assert.equal(planRetry(q({ attemptsMade: 2 }), config, () => 0.5), { type: 'retry', delayMs: 50 });
});

plan('gives up once `attempts` tries were made, the first included', () => {
  assert.equal(planRetry(q({ attemptsMade: 3 }), config, () => 0.5), { type: 'give-up', reason: 'attempts-exhausted' });
  assert.equal(planRetry(q(), { ...config, attempts: 1 }, () => 0.5), { type: 'give-up', reason: 'attempts-exhausted' });
});

plan('a Retry-After longer than the backoff is honoured', () => {
  assert.equal(planRetry(q({ retryAfter: '2' }), config, () => 0.5), { type: 'retry', delayMs: 2_000 });
});

plan('gives up now when the wait would end past maxTotalMs or the client deadline', () => {
  assert.equal(planRetry(q({ retryAfter: '30' }), config, () => 0.5), { type: 'give-up', reason: 'out-of-time' });
  assert.equal(planRetry(q({ now: 9_990 }), config, () => 0.5), { type: 'give-up', reason: 'out-of-time' });
  assert.equal(planRetry(q({ deadlineAt: 120 }), config, () => 0.5), { type: 'give-up', reason: 'out-of-time' });
  assert.equal(planRetry(q({ deadlineAt: 200 }), config, () => 0.5), { type: 'retry', delayMs: 25 });
});

plan('a call that is not retryable is not retried whatever is left', () => {
  assert.equal(planRetry(q({ method: 'POST' }), config, () => 0.5), { type: 'give-up', reason: 'not-retryable' });
});

plan('takes the parsed `retry` config section as it is, with the same defaults', () => {
  const parsed = retrySchema.parse({});
  assert.equal(parsed, { ...DEFAULT_RETRY_CONFIG });
  assert.equal(planRetry(q(), parsed, () => 0.5), { type: 'retry', delayMs: 25 });
});

backoff.run();
retryAfter.run();
retryable.run();
plan.run();

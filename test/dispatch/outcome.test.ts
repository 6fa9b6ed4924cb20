import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { classifyOutcome, isTransientError } from '../../src/dispatch/outcome.ts';
import { BadRequestError, UpstreamTimeoutError, UpstreamUnavailableError } from '../../src/errors.ts';

const withCode = (code: string) => Object.assign(new Error(code), { code });

const classify = suite('classifyOutcome');

classify('a 5xx is a failure and any other answer a success', () => {
  const table: [number, string][] = [[200, 'success'], [204, 'success'], [304, 'success'], [400, 'success'], [404, 'success'],
    [429, 'success'], [500, 'failure'], [502, 'failure'], [503, 'failure'], [504, 'failure']];
  for (const [status, expected] of table) assert.is(classifyOutcome({ status }), expected, String(status));
});

classify('429 is a failure only when asked', () => {
  assert.is(classifyOutcome({ status: 429 }, { failOn429: true }), 'failure');
  assert.is(classifyOutcome({ status: 429 }, { failOn429: false }), 'success');
});

classify('a call that threw (connect error, timeout) is a failure', () => {
  assert.is(classifyOutcome({ error: new UpstreamUnavailableError('http://a') }), 'failure');
  assert.is(classifyOutcome({ error: withCode('UND_ERR_HEADERS_TIMEOUT') }), 'failure');
});

const transient = suite('isTransientError');

transient('connect errors and timeouts are transient, raw or wrapped', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_SOCKET']) {
    assert.ok(isTransientError(withCode(code)), code);
  }
  assert.ok(isTransientError(new UpstreamUnavailableError('http://a')));
  assert.ok(isTransientError(new UpstreamTimeoutError('http://a', 1_000)));
  assert.ok(isTransientError(new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') })), 'found in the cause chain');
});

transient('aborts, bad input and unknown errors are not', () => {
  assert.not.ok(isTransientError(Object.assign(new Error('aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' })));
  assert.not.ok(isTransientError(new BadRequestError('no')));
  assert.not.ok(isTransientError(new Error('boom')));
  assert.not.ok(isTransientError('ECONNRESET'));
  assert.not.ok(isTransientError(undefined));
});

classify.run();
transient.run();

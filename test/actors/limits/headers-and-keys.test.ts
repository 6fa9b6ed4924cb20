// Answer headers of limited targets, limit keys and token estimates: small pure helpers of the limits.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import type { Decision } from '../../../src/limit/decision.ts';
import { answerHeaders, H_DEGRADED, H_LIMIT, H_REMAINING, H_RESET, H_WOULD_LIMIT, mergeAnswerHeaders, resetSeconds } from '../../../src/actors/limits/answer-headers.ts';
import { limitKey, TARGET_KEY } from '../../../src/actors/limits/limit-key.ts';
import { tokenEstimate } from '../../../src/actors/limits/token-cost.ts';
import { parseTarget } from '../../../src/config/load.ts';

const headers = suite('limit answer headers');

const d = (o: Partial<Decision>): Decision => ({
  allowed: true, limitName: 'l', limit: 10, remaining: 5, resetAt: 60_000, retryAfterMs: 0, windowId: 0, degraded: false, wouldLimit: false, ...o,
});

headers('RateLimit-Reset is whole seconds until the window ends, rounded up', () => {
  assert.is(resetSeconds(60_000, 59_001), 1);
  assert.is(resetSeconds(60_000, 0), 60);
  assert.is(resetSeconds(60_000, 60_000), 0);
});

headers('show the limit with the least remaining, and name degraded and shadow-mode limits', () => {
  const h = answerHeaders([d({ limitName: 'a', remaining: 9 }), d({ limitName: 'b', limit: 3, remaining: 1, degraded: true }), d({ limitName: 'c', wouldLimit: true })], 30_000);
  assert.equal(h, { [H_LIMIT]: '3', [H_REMAINING]: '1', [H_RESET]: '30', [H_DEGRADED]: 'b', [H_WOULD_LIMIT]: 'c' });
  assert.equal(answerHeaders([], 0), {});
});

headers('merging two admissions keeps the tighter trio and every named limit', () => {
  const client = { [H_LIMIT]: '5', [H_REMAINING]: '0', [H_RESET]: '10', [H_DEGRADED]: 'per-ip' };
  const target = { [H_LIMIT]: '100', [H_REMAINING]: '50', [H_RESET]: '10', [H_DEGRADED]: 'rpm' };
  assert.equal(mergeAnswerHeaders(client, target), { [H_LIMIT]: '5', [H_REMAINING]: '0', [H_RESET]: '10', [H_DEGRADED]: 'per-ip, rpm' });
  assert.equal(mergeAnswerHeaders({}, target), target);
  assert.equal(mergeAnswerHeaders(client, {}), client);
});

const keys = suite('limit keys');

keys('target limits share one key; ip limits key by the peer; header limits by a hash of the value', () => {
  const src = { clientIp: '10.1.2.3', headers: { 'x-api-key': 'secret-key' } };
  assert.is(limitKey('target', src), TARGET_KEY);
  assert.is(limitKey('ip', src), 'ip:10.1.2.3');
  const k = limitKey({ header: 'x-api-key' }, src);
  assert.not.match(k, /secret/, 'an API key never goes on the bus');
  assert.is(k, limitKey({ header: 'x-api-key' }, { clientIp: 'other', headers: { 'x-api-key': 'secret-key' } }));
  assert.is.not(k, limitKey({ header: 'x-api-key' }, { clientIp: 'x', headers: { 'x-api-key': 'secret-kez' } }));
  assert.is(limitKey({ header: 'x-api-key' }, { clientIp: 'x', headers: {} }), 'h:', 'a missing header is its own key');
});

const tokens = suite('request token estimate');

tokens('a token limit\'s header wins, else max_tokens plus bytes / 4', () => {
  const t = parseTarget({ name: 't', prefix: '/t', replicas: ['http://127.0.0.1:1'], limits: [
    { name: 'rpm', limit: 1 }, { name: 'tpm', dimension: 'tokens', limit: 10, tokenHeader: 'x-est' },
  ] });
  const body = Buffer.from(JSON.stringify({ max_tokens: 100, prompt: 'abcdefgh' }));
  assert.is(tokenEstimate(t.limits, { 'x-est': '77' }, body), 77);
  assert.is(tokenEstimate(t.limits, { 'x-est': 'lots' }, body), 100 + Math.ceil(body.length / 4));
  assert.is(tokenEstimate(t.limits, {}, undefined), 0);
});

headers.run();
keys.run();
tokens.run();

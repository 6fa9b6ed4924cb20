import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { cacheStatus } from '../../src/cache/index.ts';

const status = suite('Cache-Status (RFC 9211)');

status('a hit names the cache and its remaining freshness in seconds', () => {
  assert.is(cacheStatus({ hit: true }), 'sluice; hit');
  assert.is(cacheStatus({ hit: true, ttlMs: 12_900 }), 'sluice; hit; ttl=12');
});

status('a forward says why, what the upstream answered and whether it was stored', () => {
  assert.is(cacheStatus({ fwd: 'miss', stored: true }), 'sluice; fwd=miss; stored');
  assert.is(cacheStatus({ fwd: 'uri-miss', fwdStatus: 200, stored: true }), 'sluice; fwd=uri-miss; fwd-status=200; stored');
  assert.is(cacheStatus({ fwd: 'stale', ttlMs: -3_000 }), 'sluice; fwd=stale; ttl=-3');
  assert.is(cacheStatus({ fwd: 'stale', fwdStatus: 304, ttlMs: -2_500 }), 'sluice; fwd=stale; fwd-status=304; ttl=-3');
});

status('details are quoted strings', () => {
  assert.is(cacheStatus({ hit: true, detail: 'stale-if-error' }), 'sluice; hit; detail="stale-if-error"');
  assert.is(cacheStatus({ fwd: 'bypass', detail: 'a "b"' }), 'sluice; fwd=bypass; detail="a \\"b\\""');
});

status.run();

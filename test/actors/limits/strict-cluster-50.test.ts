// Fifty nodes: the strict limit stays exact with bursty uneven load, bus delay, 5% message loss and
// a holder crash; outside the failover the limit is used. Issue #6. Calls are counted where they land
// (a simulated upstream, by the window of arrival) and requests come at window edges too (issue #12).
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { simulateCluster } from '../../../src/cli/simulate-cluster.ts';
import { check, uneven } from './strict-support.ts';

const fifty = suite('strict limits in a simulated 50-node cluster');

fifty('bursty uneven load, 5% loss and a holder crash: exact every window, successor elected, limit used', async () => {
  const o = await simulateCluster({
    mode: 'strict', nodes: 50, seconds: 3, limit: 2_500, windowMs: 1_000, rate: uneven(50, 5_000), arrivals: 'bursty',
    delayMs: { min: 1, max: 20 }, dropRate: 0.05, heartbeatMs: 200, seed: 7, faults: [{ atMs: 2_100, kind: 'crash-holder' }],
    upstreamMs: { min: 1, max: 3 }, edgeMs: 5, edgeRequests: 1,
  });
  const use = check(o, '50 nodes');
  assert.ok(o.holderChanges >= 2, 'a successor was elected');
  assert.ok(use.mean >= 0.9, `used ${use.mean.toFixed(3)} of the limit outside the failover`);
});

fifty.run();

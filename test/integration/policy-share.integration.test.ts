// Integration (real nats-server): two nodes' adaptive policies share learned state over NATS, so
// the second starts warm from the first.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { NatsBus } from '../../src/bus/nats-bus.ts';
import { realClock } from '../../src/clock.ts';
import { createAdaptivePolicy } from '../../src/batch/index.ts';
import { sharePolicyState, type PolicyShare } from '../../src/actors/batching/policy-share.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';

const share = suite('policy state over a real NATS server', { timeoutMs: 30_000 });
let cluster: NatsCluster;
const buses: NatsBus[] = [];
const shares: PolicyShare[] = [];

share.before(async () => { cluster = await startNatsCluster(1); });
share.after(async () => {
  for (const s of shares) s.stop();
  for (const b of buses) await b.close();
  await cluster.close();
});

share('a node that starts asks its peer and starts from its learned share and latency slope', async () => {
  const a = await NatsBus.connect({ servers: cluster.urls, name: 'a' });
  const b = await NatsBus.connect({ servers: cluster.urls, name: 'b' });
  buses.push(a, b);
  const learned = createAdaptivePolicy({ learningRate: 0.5 });
  for (let t = 0; t < 1_000; t++) learned.arrived('k', t);
  for (let i = 0; i < 40; i++) learned.observe({ batchSize: 4, slotAgeMs: 20, arrivalRatePerMs: 1, key: 'k', now: 1_000 });
  for (let i = 0; i < 100; i++) learned.outcome({ batchSize: 1 + (i % 10), slotAgeMs: 5, arrivalRatePerMs: 1, upstreamMs: 40 + 2 * (i % 10), meanHoldMs: 2, failed: false });
  shares.push(sharePolicyState({ bus: a, cluster: 'pc', nodeId: 'a', target: 'llm', policy: learned, clock: realClock, shareMs: 60_000 }));
  // Interest crosses the server asynchronously: b's ask is retried until a answers (bounded).
  const fresh = createAdaptivePolicy();
  let warmed = false;
  for (let i = 0; i < 20 && !warmed; i++) {
    const s = sharePolicyState({ bus: b, cluster: 'pc', nodeId: 'b', target: 'llm', policy: fresh, clock: realClock, shareMs: 60_000, askTimeoutMs: 250 });
    warmed = await s.warmed;
    shares.push(s);
  }
  assert.ok(warmed, 'b was answered by a');
  assert.is(fresh.learned.joinShare, learned.learned.joinShare);
  assert.is(fresh.learned.perItemMs, learned.learned.perItemMs);
  assert.ok(fresh.learned.perItemMs > 1);
});

share.run();

// The policy's bus side on an in-process network and a virtual clock: the reference agent answers
// decide asks and learns from telemetry; telemetry is sampled and bounded; learned state is shared.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import type { Json } from '../../src/bus/bus.ts';
import { createAdaptivePolicy, FlushDecision, type FlushFeatures, type FlushOutcome } from '../../src/batch/index.ts';
import { createAgentPolicy } from '../../src/actors/batching/agent-policy.ts';
import { sharePolicyState } from '../../src/actors/batching/policy-share.ts';
import { telemetryPublisher } from '../../src/actors/batching/policy-telemetry.ts';
import { startPolicyAgent } from '../../src/policy/agent-server.ts';

const f = (over: Partial<FlushFeatures> = {}): FlushFeatures => ({
  queueDepth: 1, arrivalRatePerMs: 0.3, slotAgeMs: 0, upstreamP99Ms: 80, maxWaitMs: 100, maxBatchSize: 128, ...over,
});
const outcome = (n: number, upstreamMs: number): FlushOutcome => ({ batchSize: n, slotAgeMs: 10, arrivalRatePerMs: 0.3, upstreamMs, meanHoldMs: 5, failed: false });

async function pump(clock: VirtualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t++) { clock.advance(1); for (let i = 0; i < 4; i++) await Promise.resolve(); }
}

const bus = suite('policy over the bus');

bus('the reference agent answers a node\'s ask: WAIT while young at a busy rate, SERVE once old enough', async () => {
  const clock = new VirtualClock();
  const net = new LocalNetwork(clock);
  const agent = startPolicyAgent({ bus: net.connect('agent'), cluster: 'c1' });
  const fallbacks: string[] = [];
  const node = createAgentPolicy({ bus: net.connect('node'), cluster: 'c1', target: 'llm', timeoutMs: 5, onFallback: (r) => fallbacks.push(r) });
  const young = Promise.resolve(node.decide(f({ slotAgeMs: 0.1 })));
  await pump(clock, 2);
  assert.is(await young, FlushDecision.Wait);
  const old = Promise.resolve(node.decide(f({ slotAgeMs: 99 })));
  await pump(clock, 2);
  assert.is(await old, FlushDecision.Serve);
  assert.equal(fallbacks, []);
  assert.is(agent.stats()['llm']?.asks, 2);
  agent.stop();
});

bus('a malformed ask gets no answer (the node falls back and counts it); the agent counts it too', async () => {
  const clock = new VirtualClock();
  const net = new LocalNetwork(clock);
  let malformed = 0;
  const agent = startPolicyAgent({ bus: net.connect('agent'), cluster: 'c1', onMalformed: () => { malformed++; } });
  const asked = net.connect('node').request('sluice.c1.policy.decide', { v: 99, target: 'llm' } as Json, 5).then(() => 'answered', () => 'no answer');
  await pump(clock, 10);
  assert.is(await asked, 'no answer');
  assert.is(malformed, 1);
  agent.stop();
});

bus('the agent learns the upstream latency per batched item from the cluster\'s telemetry', async () => {
  const clock = new VirtualClock();
  const net = new LocalNetwork(clock);
  const agent = startPolicyAgent({ bus: net.connect('agent'), cluster: 'c1' });
  const publish = telemetryPublisher({
    bus: net.connect('node'), cluster: 'c1', nodeId: 'n1', target: 'llm', clock, random: () => 0, sampleRate: 1, maxPerSecond: 1_000,
  })!;
  for (let i = 0; i < 300; i++) { const n = 1 + (i % 30); publish(outcome(n, 50 + 3 * (n - 1))); await pump(clock, 1); }
  assert.is(agent.stats()['llm']?.outcomes, 300);
  const slope = agent.learnerFor('llm').learned.perItemMs;
  assert.ok(Math.abs(slope - 3) < 0.1, `learned ${slope} ms per item, the telemetry says 3`);
  agent.stop();
});

bus('telemetry is sampled and bounded by maxPerSecond on the node\'s clock, and never carries the batch key', async () => {
  const clock = new VirtualClock();
  const net = new LocalNetwork(clock);
  const seen: Json[] = [];
  net.connect('learner').subscribe('sluice.c1.telemetry.batch.llm', (m) => { seen.push(m.data); });
  let dropped = 0;
  const publish = telemetryPublisher({
    bus: net.connect('node'), cluster: 'c1', nodeId: 'n1', target: 'llm', clock, random: () => 0.5, sampleRate: 0.6, maxPerSecond: 5, onDropped: () => { dropped++; },
  })!;
  for (let i = 0; i < 100; i++) publish({ ...outcome(4, 60), key: 'Bearer secret|GET /x' });
  await pump(clock, 1);
  assert.is(seen.length, 5);
  assert.is(dropped, 95);
  await pump(clock, 1_000);
  for (let i = 0; i < 100; i++) publish(outcome(4, 60));
  await pump(clock, 1);
  assert.is(seen.length, 10);
  assert.not.match(JSON.stringify(seen), 'secret');
  const none = telemetryPublisher({ bus: net.connect('x'), cluster: 'c1', nodeId: 'n', target: 't', clock, random: () => 0, sampleRate: 0, maxPerSecond: 5 });
  assert.is(none, undefined);
});

bus('a node that joins starts warm from its peer\'s learned state, and shares on a period', async () => {
  const clock = new VirtualClock();
  const net = new LocalNetwork(clock);
  const old = createAdaptivePolicy({ learningRate: 0.5 });
  for (let t = 0; t < 1_000; t++) old.arrived('k', t);
  for (let i = 0; i < 40; i++) old.observe({ batchSize: 6, slotAgeMs: 20, arrivalRatePerMs: 1, key: 'k', now: 1_000 });
  const a = sharePolicyState({ bus: net.connect('a'), cluster: 'c1', nodeId: 'a', target: 'llm', policy: old, clock, shareMs: 1_000 });
  await pump(clock, 5);
  const fresh = createAdaptivePolicy();
  const b = sharePolicyState({ bus: net.connect('b'), cluster: 'c1', nodeId: 'b', target: 'llm', policy: fresh, clock, shareMs: 1_000 });
  await pump(clock, 5);
  assert.is(await b.warmed, true);
  assert.is(fresh.learned.joinShare, old.learned.joinShare);
  let malformed = 0;
  const third = createAdaptivePolicy();
  const c = sharePolicyState({ bus: net.connect('c'), cluster: 'c1', nodeId: 'c', target: 'llm', policy: third, clock, shareMs: 0, onMalformed: () => { malformed++; } });
  net.connect('evil').publish('sluice.c1.policy.state.llm', { from: 'evil', state: { v: 1, joinShare: -3, observations: 5 } });
  await pump(clock, 2);
  assert.is(third.learned.observations, 0);
  await pump(clock, 1_000); // a's and b's periodic publishes reach c
  assert.ok(Math.abs(third.learned.joinShare - old.learned.joinShare) < 1e-9);
  assert.is(malformed, 1); // the bad state was refused and counted, not loaded
  a.stop(); b.stop(); c.stop();
});

bus.run();

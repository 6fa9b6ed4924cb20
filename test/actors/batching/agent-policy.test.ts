// The `agent` flush policy over an in-process bus on a virtual clock: what it asks, how it reads
// answers, and that silence, slowness or nonsense all fall back to the guards (WAIT).
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { realScheduler, VirtualClock } from '../../../src/clock.ts';
import { LocalNetwork } from '../../../src/bus/local-bus.ts';
import type { Json } from '../../../src/bus/bus.ts';
import { FlushDecision, type BatchKey, type FlushFeatures } from '../../../src/batch/index.ts';
import { createAgentPolicy } from '../../../src/actors/batching/agent-policy.ts';
import { BatchRegistry } from '../../../src/actors/batch-registry.ts';

const FEATURES: FlushFeatures = {
  queueDepth: 3, arrivalRatePerMs: 0.5, slotAgeMs: 4, upstreamP99Ms: Number.NaN, maxWaitMs: 20, maxBatchSize: 64,
};

function setup(answer?: (ask: Json) => Json | undefined, delayMs = 0) {
  const clock = new VirtualClock();
  const net = new LocalNetwork(clock, { delayMs: () => delayMs });
  const node = net.connect('node');
  const asks: Json[] = [];
  if (answer) {
    net.connect('agent').subscribe('sluice.c1.policy.decide', (m) => {
      asks.push(m.data);
      const a = answer(m.data);
      if (a !== undefined) m.respond?.(a);
    });
  }
  const fallbacks: string[] = [];
  const policy = createAgentPolicy({ bus: node, cluster: 'c1', target: 'llm', timeoutMs: 5, onFallback: (r) => fallbacks.push(r) });
  return { clock, policy, asks, fallbacks };
}

async function decide(s: ReturnType<typeof setup>, f: FlushFeatures = FEATURES, advanceMs = 10): Promise<FlushDecision> {
  const pending = Promise.resolve(s.policy.decide(f));
  for (let t = 0; t < advanceMs; t++) { s.clock.advance(1); await Promise.resolve(); }
  return pending;
}

const agent = suite('agent flush policy');

agent('asks on sluice.<cluster>.policy.decide with the versioned features, unknown p99 as null', async () => {
  const s = setup(() => 'WAIT');
  assert.is(await decide(s), FlushDecision.Wait);
  assert.equal(s.asks, [{ v: 1, target: 'llm', queueDepth: 3, arrivalRatePerMs: 0.5, slotAgeMs: 4, upstreamP99Ms: null, maxWaitMs: 20, maxBatchSize: 64 }]);
  assert.equal(s.fallbacks, []);
});

agent('takes SERVE as a bare string or as { decision }', async () => {
  assert.is(await decide(setup(() => 'SERVE')), FlushDecision.Serve);
  assert.is(await decide(setup(() => ({ decision: 'SERVE' }))), FlushDecision.Serve);
});

agent('falls back to WAIT when nobody listens, nobody answers in time, or the answer makes no sense', async () => {
  const none = setup();
  assert.is(await decide(none), FlushDecision.Wait);
  assert.equal(none.fallbacks, ['no-responders']);

  const slow = setup(() => 'SERVE', 8); // answers after the 5 ms budget
  assert.is(await decide(slow, FEATURES, 20), FlushDecision.Wait);
  assert.equal(slow.fallbacks, ['timeout']);

  const silly = setup(() => ({ decision: 'maybe' }));
  assert.is(await decide(silly), FlushDecision.Wait);
  assert.equal(silly.fallbacks, ['malformed']);
});

agent('in a registry, an agent SERVE flushes with reason policy; without an agent the timer guard flushes', async () => {
  for (const [answer, reason] of [[() => 'SERVE', 'policy'], [undefined, 'timer']] as const) {
    const s = setup(answer);
    const flushes: string[] = [];
    const registry = new BatchRegistry<string, string>({
      clock: s.clock, afterTurn: realScheduler, maxWaitMs: 20, maxBatchSize: 10, policy: s.policy,
      executor: { call: async () => 'r', fanOut: () => {}, fail: () => {} },
      hooks: { onFlush: (r) => flushes.push(r) },
    });
    registry.join('k' as BatchKey, 'a', 'a');
    for (let t = 0; t < 25 && flushes.length === 0; t++) { s.clock.advance(1); await new Promise((r) => setImmediate(r)); }
    assert.equal(flushes, [reason]);
  }
});

agent.run();

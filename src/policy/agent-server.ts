// The reference policy agent (`sluice agent`): answers `policy.decide` asks over the bus with the
// adaptive learner run out of process, one learner per target. It learns from the cluster's live
// telemetry (`telemetry.batch.>`): the upstream's latency per batched item and the join share.
// Agents share a queue group, so several can run for availability; each ask is answered once.
import { subjectFor, type Bus, type Json, type Subscription } from '../bus/bus.ts';
import { createAdaptivePolicy, decodeAsk, encodeAnswer, type AdaptiveOptions, type AdaptivePolicy } from '../batch/index.ts';
import { POLICY_DECIDE_TOPIC } from '../batch/agent-protocol.ts';

export interface AgentOptions {
  readonly bus: Bus;
  readonly cluster: string;
  readonly learner?: AdaptiveOptions;
  readonly onMalformed?: (subject: string) => void;
}

export interface PolicyAgent {
  /** Asks answered and outcomes learned from, per target. */
  stats(): Record<string, { asks: number; outcomes: number }>;
  learnerFor(target: string): AdaptivePolicy;
  stop(): void;
}

export const AGENT_QUEUE = 'sluice-policy-agents';

export function startPolicyAgent(o: AgentOptions): PolicyAgent {
  const learners = new Map<string, { policy: AdaptivePolicy; asks: number; outcomes: number }>();
  const learner = (target: string) => {
    let l = learners.get(target);
    if (!l) { l = { policy: createAdaptivePolicy(o.learner), asks: 0, outcomes: 0 }; learners.set(target, l); }
    return l;
  };
  const subs: Subscription[] = [
    o.bus.subscribe(subjectFor(o.cluster, POLICY_DECIDE_TOPIC), (msg) => {
      let ask;
      try { ask = decodeAsk(msg.data); } catch { o.onMalformed?.(msg.subject); return; } // no answer: the node's guards decide
      const l = learner(ask.target);
      l.asks++;
      // No batch keys travel, so the target's arrival rate stands in for the key's.
      msg.respond?.(encodeAnswer(l.policy.decide(ask)));
    }, { queue: AGENT_QUEUE }),
    o.bus.subscribe(subjectFor(o.cluster, 'telemetry.batch.>'), (msg) => {
      const r = msg.data as { [k: string]: Json };
      if (typeof r !== 'object' || r === null || r['v'] !== 1 || typeof r['target'] !== 'string') { o.onMalformed?.(msg.subject); return; }
      const { batchSize, slotAgeMs, arrivalRatePerMs, upstreamMs, meanHoldMs, failed } = r;
      if (typeof batchSize !== 'number' || typeof slotAgeMs !== 'number' || typeof upstreamMs !== 'number') { o.onMalformed?.(msg.subject); return; }
      const l = learner(r['target']);
      const observation = { batchSize, slotAgeMs, arrivalRatePerMs: typeof arrivalRatePerMs === 'number' ? arrivalRatePerMs : 0 };
      l.policy.observe(observation);
      l.policy.outcome({ ...observation, upstreamMs, meanHoldMs: typeof meanHoldMs === 'number' ? meanHoldMs : 0, failed: failed === true });
      l.outcomes++;
    }),
  ];
  return {
    stats: () => Object.fromEntries([...learners].map(([t, l]) => [t, { asks: l.asks, outcomes: l.outcomes }])),
    learnerFor: (target) => learner(target).policy,
    stop: () => { for (const s of subs) s.unsubscribe(); },
  };
}

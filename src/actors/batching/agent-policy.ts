// The `agent` flush policy: asks an external decider (an RL agent, a rules service…) over the bus on
// `sluice.<cluster>.policy.decide` whether a waiting slot should be served, and gives it
// `batch.agentTimeoutMs` to answer. No answer in time, nobody listening or an answer we cannot read
// all mean WAIT: the guards (`maxWaitMs`, `maxBatchSize`) then decide, as they always can.
// The messages are src/policy/agent-protocol.ts (versioned, documented in docs/policies.md).
import { subjectFor, type Bus, type Json } from '../../bus/bus.ts';
import { FlushDecision, type FlushFeatures } from '../../batch/index.ts';
import { ErrorCode } from '../../errors.ts';
import { decodeAnswer, encodeAsk, POLICY_DECIDE_TOPIC } from '../../batch/agent-protocol.ts';
import type { SlotPolicy } from '../batch-registry.ts';

export { POLICY_DECIDE_TOPIC };

export interface AgentPolicyOptions {
  readonly bus: Bus;
  readonly cluster: string;
  readonly target: string;
  readonly timeoutMs: number;
  /** Called when the guards decided because the agent did not (timeout, no responders, bad reply). */
  readonly onFallback?: (reason: 'timeout' | 'no-responders' | 'malformed' | 'error') => void;
}

export function createAgentPolicy(o: AgentPolicyOptions): SlotPolicy {
  const subject = subjectFor(o.cluster, POLICY_DECIDE_TOPIC);
  return {
    name: 'agent',
    async decide(f: FlushFeatures): Promise<FlushDecision> {
      let reply: Json;
      try {
        reply = await o.bus.request(subject, encodeAsk(o.target, f), o.timeoutMs);
      } catch (err) {
        const code = (err as { code?: string })?.code;
        o.onFallback?.(code === ErrorCode.BusTimeout ? 'timeout' : code === ErrorCode.NoResponders ? 'no-responders' : 'error');
        return FlushDecision.Wait;
      }
      const decision = decodeAnswer(reply);
      if (decision === undefined) { o.onFallback?.('malformed'); return FlushDecision.Wait; }
      return decision;
    },
  };
}

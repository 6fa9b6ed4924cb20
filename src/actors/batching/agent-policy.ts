// The `agent` flush policy: asks an external decider (an RL agent, a rules service…) over the bus on
// `sluice.<cluster>.policy.decide` whether a waiting slot should be served, and gives it
// `batch.agentTimeoutMs` to answer. No answer in time, nobody listening or an answer we cannot read
// all mean WAIT: the guards (`maxWaitMs`, `maxBatchSize`) then decide, as they always can.
//
// Request:  { target, queueDepth, arrivalRatePerMs, slotAgeMs, upstreamP99Ms (null when unknown), maxWaitMs, maxBatchSize }
// Reply:    "SERVE" | "WAIT"  or  { "decision": "SERVE" | "WAIT" }
import { subjectFor, type Bus, type Json } from '../../bus/bus.ts';
import { FlushDecision, type FlushFeatures } from '../../batch/index.ts';
import { ErrorCode } from '../../errors.ts';
import type { SlotPolicy } from '../batch-registry.ts';

export const POLICY_DECIDE_TOPIC = 'policy.decide';

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
        reply = await o.bus.request(subject, askFor(o.target, f), o.timeoutMs);
      } catch (err) {
        const code = (err as { code?: string })?.code;
        o.onFallback?.(code === ErrorCode.BusTimeout ? 'timeout' : code === ErrorCode.NoResponders ? 'no-responders' : 'error');
        return FlushDecision.Wait;
      }
      const decision = parseDecision(reply);
      if (decision === undefined) { o.onFallback?.('malformed'); return FlushDecision.Wait; }
      return decision;
    },
  };
}

function askFor(target: string, f: FlushFeatures): Json {
  const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);
  return {
    target,
    queueDepth: f.queueDepth,
    arrivalRatePerMs: finite(f.arrivalRatePerMs),
    slotAgeMs: finite(f.slotAgeMs),
    upstreamP99Ms: f.upstreamP99Ms > 0 ? finite(f.upstreamP99Ms) : null,
    maxWaitMs: f.maxWaitMs,
    maxBatchSize: f.maxBatchSize,
  };
}

function parseDecision(reply: Json): FlushDecision | undefined {
  const raw = typeof reply === 'object' && reply !== null && !Array.isArray(reply) ? reply['decision'] : reply;
  return raw === FlushDecision.Serve || raw === FlushDecision.Wait ? raw : undefined;
}

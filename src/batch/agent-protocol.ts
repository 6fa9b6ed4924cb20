// The `agent` flush policy's wire protocol, version 1 (docs/policies.md). A node asks on
// `sluice.<cluster>.policy.decide` whether a waiting slot should be served; an agent answers within
// the node's `batch.agentTimeoutMs` or the guards decide. Batch keys never travel: they hold
// credentials.
//
// Ask:    { v: 1, target, queueDepth, arrivalRatePerMs, slotAgeMs, upstreamP99Ms | null, maxWaitMs, maxBatchSize }
// Answer: { v: 1, decision: "SERVE" | "WAIT" }   ("SERVE" / "WAIT" alone is accepted too)
import type { Json } from '../bus/bus.ts';
import { FlushDecision, type FlushFeatures } from './flush-policy.ts';
import { InvalidArgumentError } from '../errors.ts';

export const AGENT_PROTOCOL_VERSION = 1;
export const POLICY_DECIDE_TOPIC = 'policy.decide';

export interface DecideAsk extends FlushFeatures { readonly target: string }

export function encodeAsk(target: string, f: FlushFeatures): Json {
  const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);
  return {
    v: AGENT_PROTOCOL_VERSION,
    target,
    queueDepth: f.queueDepth,
    arrivalRatePerMs: finite(f.arrivalRatePerMs),
    slotAgeMs: finite(f.slotAgeMs),
    upstreamP99Ms: f.upstreamP99Ms > 0 ? finite(f.upstreamP99Ms) : null,
    maxWaitMs: f.maxWaitMs,
    maxBatchSize: f.maxBatchSize,
  };
}

/** An agent's reading of an ask; throws InvalidArgumentError naming the first bad field. */
export function decodeAsk(raw: Json): DecideAsk {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError('decide ask: expected an object');
  if (raw['v'] !== AGENT_PROTOCOL_VERSION) throw new InvalidArgumentError(`decide ask: unsupported version ${JSON.stringify(raw['v'])}`);
  const num = (name: string, nullable = false): number => {
    const v = raw[name];
    if (v === null && nullable) return Number.NaN;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(`decide ask: '${name}' must be a non-negative number, got ${JSON.stringify(v)}`);
    return v;
  };
  const target = raw['target'];
  if (typeof target !== 'string' || target === '') throw new InvalidArgumentError(`decide ask: 'target' must be a name, got ${JSON.stringify(target)}`);
  return {
    target,
    queueDepth: num('queueDepth'), arrivalRatePerMs: num('arrivalRatePerMs', true), slotAgeMs: num('slotAgeMs', true),
    upstreamP99Ms: num('upstreamP99Ms', true), maxWaitMs: num('maxWaitMs'), maxBatchSize: num('maxBatchSize'),
  };
}

export const encodeAnswer = (decision: FlushDecision): Json => ({ v: AGENT_PROTOCOL_VERSION, decision });

/** The decision in an agent's answer, or undefined when it cannot be read. */
export function decodeAnswer(reply: Json): FlushDecision | undefined {
  const raw = typeof reply === 'object' && reply !== null && !Array.isArray(reply) ? reply['decision'] : reply;
  return raw === FlushDecision.Serve || raw === FlushDecision.Wait ? raw : undefined;
}

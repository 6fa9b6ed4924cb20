// Live telemetry for learners (seed 000's event stream): each flushed slot's features, the decision
// that flushed it and its outcome, published on `sluice.<cluster>.telemetry.batch.<target>`.
// Sampled (`batch.telemetry.sampleRate`) and bounded (`maxPerSecond`, a token bucket on the node's
// clock), so a busy target never floods the bus. Batch keys are never sent: they hold credentials.
//
// Record v1: { v, node, target, at, reason, batchSize, slotAgeMs, arrivalRatePerMs, upstreamMs,
//              meanHoldMs, failed }  — `sluice env --replay FILE` reads these as JSON lines.
import { subjectFor, type Bus, type Json } from '../../bus/bus.ts';
import type { FlushOutcome } from '../../batch/index.ts';
import type { Clock } from '../../clock.ts';

export const TELEMETRY_VERSION = 1;
export const telemetryTopic = (target: string): string => `telemetry.batch.${target}`;

export interface TelemetryOptions {
  readonly bus: Bus;
  readonly cluster: string;
  readonly nodeId: string;
  readonly target: string;
  readonly clock: Clock;
  readonly random: () => number;
  /** Share of flushes published, in [0, 1]; 0 turns telemetry off. */
  readonly sampleRate: number;
  /** At most this many records per second (burst of the same size). */
  readonly maxPerSecond: number;
  /** A sampled record dropped by the bound. */
  readonly onDropped?: () => void;
}

export function telemetryPublisher(o: TelemetryOptions): ((outcome: FlushOutcome & { reason?: string }) => void) | undefined {
  if (!(o.sampleRate > 0) || !(o.maxPerSecond > 0)) return undefined;
  const subject = subjectFor(o.cluster, telemetryTopic(o.target));
  let tokens = o.maxPerSecond;
  let refilledAt = o.clock.now();
  return (m) => {
    if (o.random() >= o.sampleRate) return;
    const now = o.clock.now();
    tokens = Math.min(o.maxPerSecond, tokens + ((now - refilledAt) / 1000) * o.maxPerSecond);
    refilledAt = now;
    if (tokens < 1) { o.onDropped?.(); return; }
    tokens -= 1;
    const record: Json = {
      v: TELEMETRY_VERSION, node: o.nodeId, target: o.target, at: m.now ?? now, reason: m.reason ?? null,
      batchSize: m.batchSize, slotAgeMs: m.slotAgeMs, arrivalRatePerMs: m.arrivalRatePerMs,
      upstreamMs: m.upstreamMs, meanHoldMs: m.meanHoldMs, failed: m.failed,
    };
    o.bus.publish(subject, record);
  };
}

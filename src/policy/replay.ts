// Recorded telemetry (policy-telemetry.ts records, one JSON object a line) as a scenario: each
// record is one flushed slot, so its batch's arrivals are laid back across the slot's age (the
// first at its opening, the rest spread evenly, seeded) and its upstream latency replayed as the
// lone-call latency. Records without the fields a slot needs are skipped and counted.
import { InvalidArgumentError } from '../errors.ts';
import type { Arrival } from './traffic.ts';
import type { Scenario } from './patterns.ts';

export interface ReplayResult { readonly scenario: Scenario; readonly records: number; readonly skipped: number }

export function scenarioFromTelemetry(lines: string, random: () => number, batchCostExponent = 0.5): ReplayResult {
  const slots: Array<{ openedAt: number; flushedAt: number; size: number; upstreamMs: number }> = [];
  let skipped = 0;
  for (const line of lines.split('\n')) {
    if (line.trim() === '') continue;
    let r: Record<string, unknown>;
    try { r = JSON.parse(line) as Record<string, unknown>; } catch { skipped++; continue; }
    const { at, slotAgeMs, batchSize, upstreamMs } = r;
    if (r['v'] !== 1 || typeof at !== 'number' || typeof slotAgeMs !== 'number' || typeof batchSize !== 'number' || typeof upstreamMs !== 'number'
      || !(batchSize >= 1) || !(slotAgeMs >= 0) || !(upstreamMs >= 0)) { skipped++; continue; }
    slots.push({ openedAt: at - slotAgeMs, flushedAt: at, size: Math.floor(batchSize), upstreamMs });
  }
  if (slots.length === 0) throw new InvalidArgumentError(`replay: no usable telemetry records (${skipped} skipped)`);
  const start = Math.min(...slots.map((s) => s.openedAt));
  const arrivals: Arrival[] = [];
  for (const s of slots) {
    for (let i = 0; i < s.size; i++) {
      const at = i === 0 ? s.openedAt : s.openedAt + random() * (s.flushedAt - s.openedAt);
      arrivals.push({ at: at - start, key: 'replay' });
    }
  }
  arrivals.sort((a, b) => a.at - b.at);
  const latencies = slots.map((s) => s.upstreamMs);
  return {
    scenario: {
      arrivals,
      latencyMs: (_t, r) => latencies[Math.floor(r() * latencies.length)]!,
      perItemMs: () => 0,
      batchCostExponent,
    },
    records: slots.length,
    skipped,
  };
}

// Strict-limit metrics, registered once per node registry and read at scrape time from every strict
// client's counters: leases asked / granted full / short / failed / returned, units, and the local
// admission ratio (decisions made without waiting on the bus).
import type { NodeMetrics } from '../../metrics.ts';

export interface StrictClientStats {
  /** Decisions made from the local pool (or refused at once); the rest waited for the holder. */
  decisionsLocal: number;
  decisionsBus: number;
  allowed: number;
  refused: number;
  asks: number;
  grantsFull: number;
  /** Grants of fewer units than asked: the window is nearly spent (close wait follows). */
  grantsShort: number;
  /** Asks that found no holder, were refused by a former holder, or timed out every try. */
  asksFailed: number;
  unitsAsked: number;
  /** Units received, by answer to an ask or pushed by the holder when others gave some back. */
  unitsGranted: number;
  returns: number;
  unitsReturned: number;
  /** Reports of running totals sent to a new holder. */
  reports: number;
  /** Refused in the first or last edgeMs of a window (a call there could land in the next one upstream). */
  edgeRefusals: number;
  /** Refused because this node's clock is surely further than cluster.maxClockSkewMs from the holder's or the voters'. */
  clockRefusals: number;
}

/** All counters at zero, in the order describe() lists them. */
export const newStrictClientStats = (): StrictClientStats => ({
  decisionsLocal: 0, decisionsBus: 0, allowed: 0, refused: 0,
  asks: 0, grantsFull: 0, grantsShort: 0, asksFailed: 0, unitsAsked: 0, unitsGranted: 0, returns: 0, unitsReturned: 0, reports: 0,
  edgeRefusals: 0, clockRefusals: 0,
});

interface Entry { target: string; limit: string; stats: StrictClientStats }

export interface StrictMetrics { register(target: string, limit: string, stats: StrictClientStats): () => void }

const byRegistry = new WeakMap<NodeMetrics, StrictMetrics>();

export function strictMetricsFor(metrics: NodeMetrics): StrictMetrics {
  const known = byRegistry.get(metrics);
  if (known) return known;
  const entries = new Set<Entry>();
  // Sums per label set: a replaced target's old and new clients may briefly both be registered.
  const read = (pick: (s: StrictClientStats) => Array<[Record<string, string>, number]>) => () => {
    const sums = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const e of entries) {
      for (const [labels, value] of pick(e.stats)) {
        const all = { target: e.target, limit: e.limit, ...labels };
        const id = JSON.stringify(all);
        const cur = sums.get(id);
        if (cur) cur.value += value;
        else sums.set(id, { labels: all, value });
      }
    }
    return [...sums.values()];
  };
  metrics.gauge('sluice_strict_leases', 'Strict lease asks and their outcome, and returns, by kind', read((s) => [
    [{ kind: 'asked' }, s.asks], [{ kind: 'granted' }, s.grantsFull], [{ kind: 'short' }, s.grantsShort],
    [{ kind: 'failed' }, s.asksFailed], [{ kind: 'returned' }, s.returns], [{ kind: 'reported' }, s.reports],
  ]), ['target', 'limit', 'kind']);
  metrics.gauge('sluice_strict_lease_units', 'Strict permit units asked, granted and returned', read((s) => [
    [{ kind: 'asked' }, s.unitsAsked], [{ kind: 'granted' }, s.unitsGranted], [{ kind: 'returned' }, s.unitsReturned],
  ]), ['target', 'limit', 'kind']);
  metrics.gauge('sluice_strict_decisions', 'Strict admission decisions, by whether they waited on the bus', read((s) => [
    [{ path: 'local' }, s.decisionsLocal], [{ path: 'bus' }, s.decisionsBus],
  ]), ['target', 'limit', 'path']);
  metrics.gauge('sluice_strict_refusals', 'Strict refusals no lease could lift, by reason: window edge, or this node\'s clock too far off', read((s) => [
    [{ reason: 'edge' }, s.edgeRefusals], [{ reason: 'clock' }, s.clockRefusals],
  ]), ['target', 'limit', 'reason']);
  metrics.gauge('sluice_strict_local_admission_ratio', 'Share of strict decisions made without waiting on the bus', () => {
    const sums = new Map<string, { labels: Record<string, string>; local: number; all: number }>();
    for (const e of entries) {
      const id = `${e.target}\u0000${e.limit}`;
      const cur = sums.get(id) ?? { labels: { target: e.target, limit: e.limit }, local: 0, all: 0 };
      cur.local += e.stats.decisionsLocal;
      cur.all += e.stats.decisionsLocal + e.stats.decisionsBus;
      sums.set(id, cur);
    }
    return [...sums.values()].map((x) => ({ labels: x.labels, value: x.all === 0 ? 1 : x.local / x.all }));
  }, ['target', 'limit']);
  const registry: StrictMetrics = {
    register(target, limit, stats) {
      const e = { target, limit, stats };
      entries.add(e);
      return () => entries.delete(e);
    },
  };
  byRegistry.set(metrics, registry);
  return registry;
}

/** Share of decisions made without waiting on the bus (1 before any decision). */
export const localRatio = (s: StrictClientStats): number => {
  const total = s.decisionsLocal + s.decisionsBus;
  return total === 0 ? 1 : s.decisionsLocal / total;
};

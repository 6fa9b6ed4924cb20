// Bounds that tests check, computed here from the formulas the docs state, never imported from the
// code under test: if the code's own bound drifted, a test using it would drift along and still pass.

/**
 * docs/limits.md, "The over-admission bound": once the cluster total reaches the limit, every node
 * learns it within syncMs + busDelayMs and refuses from then on, so per window
 *   admitted ≤ limit + Σ_nodes (admission rate) × (syncMs + busDelayMs)   (+ syncMs per delta lost in a row).
 * Returns the part over the limit, in the units of the rates (requests or tokens).
 */
export function approximateOverAdmission(o: { ratesPerMs: readonly number[]; syncMs: number; busDelayMs: number; lostInARow?: number }): number {
  const clusterRatePerMs = o.ratesPerMs.reduce((sum, r) => sum + r, 0);
  return clusterRatePerMs * (o.syncMs + o.busDelayMs + (o.lostInARow ?? 0) * o.syncMs);
}

/**
 * docs/strict-limits.md, "Failover time (documented bound)": a successor holds within
 * leaseMs + 2 × renewMs = 5 heartbeats of the holder stopping (plus bus delay).
 */
export const strictSuccessorWithinMs = (heartbeatMs: number, busDelayMs = 0): number => 5 * heartbeatMs + busDelayMs;

// Recent upstream latencies and their quantiles: the `upstreamP99Ms` the flush policy weighs. Exact
// over the last `size` calls (nearest rank), not a sketch: a few hundred samples sort in microseconds,
// and the sort is cached until the next sample. Old calls simply fall out, so the p99 follows the
// upstream as it speeds up or slows down.
import { InvalidArgumentError } from '../errors.ts';

export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;
  private sorted: number[] | undefined;

  constructor(readonly size = 256) {
    if (!Number.isSafeInteger(size) || size < 1) throw new InvalidArgumentError(`'size' must be an integer ≥ 1, got ${size}`);
  }

  get count(): number { return this.samples.length; }

  record(latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return; // a clock step is no measurement
    if (this.samples.length < this.size) this.samples.push(latencyMs);
    else this.samples[this.next] = latencyMs;
    this.next = (this.next + 1) % this.size;
    this.sorted = undefined;
  }

  /** The q-quantile (0 < q ≤ 1) of the window by nearest rank; NaN while empty. */
  quantile(q: number): number {
    if (!(q > 0 && q <= 1)) throw new InvalidArgumentError(`'q' must be in (0, 1], got ${q}`);
    if (this.samples.length === 0) return Number.NaN;
    this.sorted ??= [...this.samples].sort((a, b) => a - b);
    return this.sorted[Math.ceil(q * this.sorted.length) - 1] as number;
  }
}
